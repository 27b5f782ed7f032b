using Akka.Cluster.Tools.PublishSubscribe;
using Akka.TestKit.Xunit2;
using Pipeline.Cluster.Roles;
using Pipeline.Runtime.Actors.Oni;
using Pipeline.Runtime.Hosting;

namespace Pipeline.Cluster.Tests;

/// <summary>How a generator node hears of published reward models: over the topic, and from the shared run folder.</summary>
public sealed class RewardModelBridgeSpec : TestKit, IDisposable
{
    private readonly string _run = Directory.CreateTempSubdirectory("pipeline-rm-bridge-").FullName;

    void IDisposable.Dispose()
    {
        base.Dispose();
        try { Directory.Delete(_run, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void A_generator_node_finds_the_newest_complete_publication_in_the_run_folder_without_any_announcement()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(RewardModelTrainer.RewardModelPublished));
        var published = Path.Combine(_run, OniSetup.Folder, "published");
        Directory.CreateDirectory(Path.Combine(published, "v00000004"));
        File.WriteAllText(Path.Combine(published, "v00000004", "meta.json"), "{}");
        Directory.CreateDirectory(Path.Combine(published, "v00000006"));  // being written: no meta.json yet
        var mediator = CreateTestProbe();
        Sys.ActorOf(RewardModelBridge.Props(mediator.Ref, publisher: false, _run, poll: TimeSpan.FromMilliseconds(100)));
        mediator.ExpectMsg<Subscribe>(s => s.Topic == RewardModelBridge.Topic);

        var found = ExpectMsg<RewardModelTrainer.RewardModelPublished>(TimeSpan.FromSeconds(3));
        Assert.Equal(4, found.Version);
        Assert.Equal(Path.Combine(published, "v00000004"), found.Dir);

        File.WriteAllText(Path.Combine(published, "v00000006", "meta.json"), "{}");
        FishForMessage<RewardModelTrainer.RewardModelPublished>(m => m.Version == 6, TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void A_publication_from_the_topic_reaches_the_EventStream_with_its_folder_under_this_node_s_run_folder()
    {
        Sys.EventStream.Subscribe(TestActor, typeof(RewardModelTrainer.RewardModelPublished));
        var bridge = Sys.ActorOf(RewardModelBridge.Props(CreateTestProbe().Ref, publisher: false, _run, poll: TimeSpan.FromMinutes(1)));
        bridge.Tell(new RewardModelTrainer.RewardModelPublished(9, "/learner/runs/r/reward-model/published/v00000009"), TestActor);
        var local = ExpectMsg<RewardModelTrainer.RewardModelPublished>(m => m.Version == 9);
        Assert.Equal(Path.Combine(_run, "reward-model", "published", "v00000009"), local.Dir);
    }

    [Theory]
    [InlineData("/r/reward-model/published/v00000040", 40L)]
    [InlineData("/r/reward-model/published/v00000040/", 40L)]
    [InlineData("/r/reward-model/published/latest", null)]
    public void The_version_is_read_from_the_folder_name(string dir, long? version) => Assert.Equal(version, RewardModelBridge.VersionOf(dir));
}
