using Pipeline.Runtime.Hosting;

namespace Pipeline.Runtime.Tests;

public sealed class RunFoldersSpec : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("run-folders-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void A_name_already_taken_gets_a_numbered_suffix()
    {
        Directory.CreateDirectory(Path.Combine(_root, "sql__grpo__1__20260101-000000"));

        var first = RunFolders.CreateExclusive(_root, "sql__grpo__1__20260101-000000");
        var second = RunFolders.CreateExclusive(_root, "sql__grpo__1__20260101-000000");

        Assert.Equal(Path.Combine(_root, "sql__grpo__1__20260101-000000-2"), first);
        Assert.Equal(Path.Combine(_root, "sql__grpo__1__20260101-000000-3"), second);
    }

    [Fact]
    public void Runs_started_together_with_the_same_name_never_share_a_folder()
    {
        for (var round = 0; round < 20; round++)
        {
            var name = $"race-{round}";
            using var start = new Barrier(6);
            var claimed = new string[6];
            var threads = Enumerable.Range(0, 6).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                claimed[i] = RunFolders.CreateExclusive(_root, name);
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());

            Assert.Equal(6, claimed.Distinct().Count());
            Assert.All(claimed, dir => Assert.True(File.Exists(Path.Combine(dir, RunFolders.OwnerFile))));
        }
    }
}
