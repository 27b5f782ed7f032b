// The benchmark and the wire specs share process-wide counters and a 2-core machine: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
