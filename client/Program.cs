using PunkGrid.Client;

return await PunkGridCommandLine.RunAsync(args, Console.Out, Console.Error);
