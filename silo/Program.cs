using PunkGrid.Silo;

return await SiloCommandLine.RunAsync(args, Console.Out, Console.Error);
