// Trainers seed libtorch's process-wide generator before building their models (weight init), and dropout draws
// from it too. Tests that assert exact equivalence (resume, same seed → same weights) must not share that generator
// with tests running on other threads, so this assembly's tests run one class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
