using PunkGrid.Silo;
using PunkGrid.Training.Native;

// First, before anything allocates: glibc reads its malloc tunables only at start (see NativeMemoryTuning).
NativeMemoryTuning.ReexecuteIfNeeded();
return await SiloCommandLine.RunAsync(args, Console.Out, Console.Error);
