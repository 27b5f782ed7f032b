// The specs measure wall-clock deadlines on a 2-core machine: running them one at a time keeps the margins honest.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
