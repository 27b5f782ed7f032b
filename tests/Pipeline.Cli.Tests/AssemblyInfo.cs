// Each spec here trains a real policy, starts servers or whole node processes: on a 2-core machine, running them one
// at a time keeps their deadlines honest (in parallel, a three-process cluster run competed with two training runs).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
