#!/usr/bin/env pwsh
# Build entry points. On a fresh machine: `dotnet tool restore` once, then `dotnet pwsh ./build.ps1 <target>`.
#   build  - compile everything
#   test   - the default test suite (same command as CI and README)
#   long   - the long scenarios (tests marked [Trait("Category","Long")])
#   train  - the main job on its embedded default
#   bench  - throughput and overhead figures for docs/benchmarks.md
#   ci     - what CI runs (.ci/run)
param([Parameter(Position = 0)][ValidateSet('build', 'test', 'long', 'train', 'bench', 'ci')][string]$Target = 'build',
      [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest)
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

function Invoke-Step([string]$exe, [string[]]$argv) {
    Write-Host "> $exe $($argv -join ' ')"
    & $exe @argv
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

switch ($Target) {
    'build' { Invoke-Step dotnet @('build', 'Pipeline.sln') }
    'test'  { Invoke-Step dotnet @('test', 'Pipeline.sln', '--filter', 'Category!=Long') }
    'long'  { Invoke-Step dotnet @('test', 'Pipeline.sln', '--filter', 'Category=Long') }
    'train' { Invoke-Step dotnet (@('run', '--project', 'src/Pipeline.Cli', '-c', 'Release', '--', 'train') + $Rest) }
    'bench' { Invoke-Step dotnet (@('run', '--project', 'src/Pipeline.Cli', '-c', 'Release', '--', 'bench') + $Rest) }
    'ci'    { Invoke-Step bash @('.ci/run') }
}
