using PunkGrid.Training.Data;

namespace PunkGrid.Silo;

/// <summary><c>silo data fetch</c>: downloads the datasets from their public sources into PUNKGRID_DATA.</summary>
public static partial class SiloCommandLine
{
    private static Command DataCommand(TextWriter stdout, TextWriter stderr)
    {
        var data = new Command("data", "Datasets.");
        var fetch = new Command("fetch", "Download the datasets from their public sources into the data folder.");
        var dataset = new Option<string[]>("--dataset") { Description = $"Which datasets: {string.Join(", ", DatasetFetcher.Datasets)}.", DefaultValueFactory = _ => [.. DatasetFetcher.Datasets] };
        var destination = new Option<string?>("--dest") { Description = $"Data folder (default: ${DataDirectory.EnvironmentVariable}, ../shared/data, ./data)." };
        var force = new Option<bool>("--force") { Description = "Download again even if the files exist." };
        fetch.Options.Add(dataset);
        fetch.Options.Add(destination);
        fetch.Options.Add(force);
        fetch.SetAction(async (parse, cancellation) =>
        {
            using var loggers = CreateLoggerFactory(quiet: false);
            try
            {
                var datasets = (parse.GetValue(dataset) ?? []).Select(d => d.Trim().ToLowerInvariant()).Distinct().ToList();
                foreach (var unknown in datasets.Where(d => !DatasetFetcher.Datasets.Contains(d)))
                {
                    throw new ArgumentException($"unknown dataset '{unknown}'; allowed: {string.Join(", ", DatasetFetcher.Datasets)}");
                }
                var folder = DataDirectory.Resolve(parse.GetValue(destination));
                using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
                if (datasets.Contains("cryptopunks"))
                {
                    var files = DatasetFetcher.FilesOf("cryptopunks");
                    var fetcher = new DatasetFetcher(http, loggers.CreateLogger("PunkGrid.Data"));
                    var written = await fetcher.FetchAsync(folder, files, parse.GetValue(force), cancellation: cancellation);
                    await stdout.WriteLineAsync($"cryptopunks: {written.Count} file(s) fetched into {folder}; {files.Count - written.Count} already present");
                }
                if (datasets.Contains("pokemon"))
                {
                    var fetcher = new PokemonFetcher(http, loggers.CreateLogger("PunkGrid.Data"));
                    var interactive = !Console.IsOutputRedirected && ReferenceEquals(stdout, Console.Out);
                    PokemonFetchReport? report = null;
                    if (interactive)
                    {
                        await AnsiConsole.Progress().StartAsync(async progress =>
                        {
                            var task = progress.AddTask("pokemon images", maxValue: 1);
                            report = await fetcher.FetchAsync(folder, PokemonSource.Public, parse.GetValue(force),
                                new Progress<(int Done, int Total)>(p => { task.MaxValue = p.Total; task.Value = p.Done; }), cancellation);
                        });
                    }
                    else
                    {
                        report = await fetcher.FetchAsync(folder, PokemonSource.Public, parse.GetValue(force), cancellation: cancellation);
                    }
                    await stdout.WriteLineAsync(report is null
                        ? $"pokemon: {Path.Combine(folder, "pokemon")} already present"
                        : $"pokemon: {report.Images} images of {report.Classes} classes fetched into {report.Folder}; {report.Skipped.Count} skipped (unreadable or missing)");
                }
                return 0;
            }
            catch (Exception ex) when (ex is ArgumentException or DataFormatException)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
            catch (HttpRequestException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return 1;
            }
        });
        data.Subcommands.Add(fetch);

        var check = new Command("check", "Check that the datasets are present and well-formed (exit 0), or say what is wrong (exit 2).");
        var folderOption = new Option<string?>("--data") { Description = "Data folder (default: $PUNKGRID_DATA, ../shared/data, ./data)." };
        check.Options.Add(folderOption);
        check.SetAction(async (parse, cancellation) =>
        {
            var folder = DataDirectory.Resolve(parse.GetValue(folderOption));
            try
            {
                var punks = PunkDataset.Load(folder);
                await stdout.WriteLineAsync($"{folder}: {punks.Tiles.shape[0]} punks, {punks.Traits.TraitNames.Count} traits");
                return 0;
            }
            catch (DataFormatException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
        });
        data.Subcommands.Add(check);
        return data;
    }
}
