using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PunkGrid.Contracts;
using PunkGrid.Grains;
using PunkGrid.Grains.Jobs;
using PunkGrid.Grains.Persistence;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Trainers;
using Spectre.Console;

namespace PunkGrid.Silo;

/// <summary>The silo's verbs: <c>train</c> (one job in-process, no cluster) and <c>data fetch</c>.</summary>
public static partial class SiloCommandLine
{
    /// <summary>Exit code for bad input (unknown trait, bad option value, corrupt checkpoint, bad data).</summary>
    public const int BadInput = 2;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation = default)
    {
        var root = new RootCommand("PunkGrid silo: the worker host. Verbs: serve (default), migrate, train (one job in-process), data fetch|check, tls create|issue.");
        var serve = ServeCommand(stderr);
        root.Subcommands.Add(serve);
        foreach (var option in serve.Options)
        {
            root.Options.Add(option);
        }
        root.SetAction((parse, cancellation) => serve.Action is System.CommandLine.Invocation.AsynchronousCommandLineAction action
            ? action.InvokeAsync(parse, cancellation)
            : Task.FromResult(1));
        root.Subcommands.Add(MigrateCommand(stdout, stderr));
        root.Subcommands.Add(TrainCommand(stdout, stderr));
        root.Subcommands.Add(DataCommand(stdout, stderr));
        root.Subcommands.Add(TlsCommand(stdout, stderr));
        var parsed = root.Parse(args);
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr }, cancellation);
    }

    private static ILoggerFactory CreateLoggerFactory(bool quiet) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(quiet ? LogLevel.Warning : LogLevel.Information)
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        }));

    private static readonly Option<string?> PostgresOption = new("--postgres") { Description = "PostgreSQL connection string (default: PunkGrid:Postgres, $PUNKGRID_PG)." };

    private static Command ServeCommand(TextWriter stderr)
    {
        var serve = new Command("serve", "Run the silo: Orleans on PostgreSQL, the scheduler, and (unless --no-worker) a worker agent.");
        var siloPort = new Option<int?>("--silo-port") { Description = "Silo-to-silo port (default 11111)." };
        var gatewayPort = new Option<int?>("--gateway-port") { Description = "Client gateway port (default 30000)." };
        var noWorker = new Option<bool>("--no-worker") { Description = "Do not run jobs on this silo." };
        var slots = new Option<int?>("--slots") { Description = "Jobs run at once (default: one per two cores)." };
        var name = new Option<string?>("--name") { Description = "Silo name shown by `punkgrid workers`." };
        var dashboard = new Option<string?>("--dashboard") { Description = "Dashboard, /api/ and /metrics address(es), ';'-separated, or 'off' (default: PunkGrid:Dashboard:Urls, http://127.0.0.1:5080). Non-loopback needs PunkGrid:Dashboard:Token." };
        foreach (var option in new Option[] { PostgresOption, siloPort, gatewayPort, noWorker, slots, name, dashboard })
        {
            serve.Options.Add(option);
        }
        serve.SetAction(async (parse, cancellation) =>
        {
            IHost host;
            try
            {
                host = SiloHost.BuildSilo(new SiloHost.Overrides(parse.GetValue(PostgresOption), parse.GetValue(siloPort), parse.GetValue(gatewayPort),
                    parse.GetValue(noWorker) ? false : null, parse.GetValue(slots), parse.GetValue(name), parse.GetValue(dashboard)));
            }
            catch (ArgumentException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
            using (host)
            {
                try
                {
                    await host.RunAsync(cancellation);
                }
                catch (Exception ex) when (InvalidSettings(ex) is { Count: > 0 } failures)
                {
                    await stderr.WriteLineAsync($"error: {string.Join("; ", failures)}");
                    return BadInput;
                }
                catch (Npgsql.NpgsqlException ex)
                {
                    await stderr.WriteLineAsync($"error: cannot use PostgreSQL ({ex.Message}); check --postgres / PUNKGRID_PG");
                    return 1;
                }
                catch (TimeoutException ex)
                {
                    await stderr.WriteLineAsync($"error: {ex.Message}; check --postgres / PUNKGRID_PG");
                    return 1;
                }
                catch (IOException ex) when (ex.InnerException is System.Net.Sockets.SocketException || ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
                {
                    await stderr.WriteLineAsync($"error: cannot serve the dashboard ({ex.Message}); pick another address with --dashboard or PunkGrid:Dashboard:Urls, or 'off'");
                    return 1;
                }
            }
            return 0;
        });
        return serve;
    }

    /// <summary>The failures of settings validated at start (<c>ValidateOnStart</c>), however the host wrapped them.</summary>
    private static List<string> InvalidSettings(Exception exception) => exception switch
    {
        Microsoft.Extensions.Options.OptionsValidationException invalid => [.. invalid.Failures],
        AggregateException many => many.InnerExceptions.SelectMany(InvalidSettings).Distinct().ToList(),
        _ => [],
    };

    private static Command MigrateCommand(TextWriter stdout, TextWriter stderr)
    {
        var migrate = new Command("migrate", "Apply PunkGrid's database migrations (serve also does this at start) and exit.");
        migrate.Options.Add(PostgresOption);
        migrate.SetAction(async (parse, cancellation) =>
        {
            try
            {
                var builder = SiloHost.CreateBuilder(new SiloHost.Overrides(parse.GetValue(PostgresOption), null, null, null, null, null));
                builder.Services.AddPunkGridStorage(SiloHost.RequirePostgres(builder.Configuration));
                using var host = builder.Build();
                var applied = await host.Services.GetRequiredService<SchemaMigrator>().MigrateAsync(cancellation);
                await stdout.WriteLineAsync(applied.Count == 0
                    ? "database is up to date"
                    : $"applied migration(s) {string.Join(", ", applied)}");
                return 0;
            }
            catch (ArgumentException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
            catch (Npgsql.NpgsqlException ex)
            {
                await stderr.WriteLineAsync($"error: cannot reach PostgreSQL: {ex.Message}");
                return 1;
            }
        });
        return migrate;
    }

    private static Command TrainCommand(TextWriter stdout, TextWriter stderr)
    {
        var train = new Command("train", "Train one job in this process, without a cluster (debugging, benchmarks, results).");
        train.Subcommands.Add(TrainKindCommand(JobKinds.Trait, "Train one of the 92 trait classifiers and print its held-out evaluation.",
            withTarget: true, stdout, stderr));
        train.Subcommands.Add(TrainKindCommand(JobKinds.Vae, "Train the PunkVAE and print its held-out reconstruction loss; artifacts are PNG grids.",
            withTarget: false, stdout, stderr));
        train.Subcommands.Add(TrainKindCommand(JobKinds.Gan, "Train the Punk GAN (--set conditional=true for the trait-conditioned one); artifacts are sample grids.",
            withTarget: false, stdout, stderr));
        train.Subcommands.Add(TrainKindCommand(JobKinds.Pokemon, "Train the Pokémon classifier (MobileNetV3-Small, duplicate-aware split) and print its test top-1/top-5.",
            withTarget: false, stdout, stderr));
        return train;
    }

    /// <summary><c>train KIND [NAME] [options]</c>: the named options of the kind, plus <c>--set</c> for any hyperparameter.</summary>
    private static Command TrainKindCommand(string kind, string description, bool withTarget, TextWriter stdout, TextWriter stderr)
    {
        var command = new Command(kind, description);
        var name = new Argument<string>("name") { Description = "Trait to classify: one of the 92 (Male, Hoodie, \"Big Shades\", …)." };
        var profile = new Option<string>("--profile")
        {
            Description = withTarget
                ? "seed (the write-up's settings), tuned (rgb, Adam, a threshold chosen on a validation split), demo (the tuned recipe, short) or quick (a smoke test)."
                : "seed (the write-up's settings), quick (minutes on a CPU), or for gan and pokemon tuned (what the seed runs' measurements asked for).",
            DefaultValueFactory = _ => JobSpec.DefaultProfile,
        };
        var epochs = new Option<int?>("--epochs") { Description = "Override the number of epochs." };
        var trainSamples = new Option<int?>("--train-samples") { Description = "Override the size of the balanced training set." };
        var batchSize = new Option<int?>("--batch-size") { Description = "Override the batch size." };
        var learningRate = new Option<double?>("--lr") { Description = "Override the learning rate." };
        var seed = new Option<int?>("--seed") { Description = "Seed of the split, the sampling, the weights and the batch order." };
        var color = new Option<string?>("--color") { Description = "gray (the seed) or rgb (3 input channels)." };
        var set = new Option<string[]>("--set") { Description = "Override any hyperparameter: --set key=value (repeatable).", AllowMultipleArgumentsPerToken = false };
        var device = new Option<string>("--device") { Description = "auto (cuda when available, else cpu), cpu, cuda or cuda:N.", DefaultValueFactory = _ => "auto" };
        var data = new Option<string?>("--data") { Description = $"Data folder (default: ${DataDirectory.EnvironmentVariable}, ../shared/data, ./data)." };
        var output = new Option<string?>("--out") { Description = "Folder for checkpoints, metrics.csv and artifacts (default .punkgrid/train/<job>-<time>)." };
        var resume = new Option<bool>("--resume") { Description = "Resume from the latest valid checkpoint in --out." };
        var json = new Option<bool>("--json") { Description = "Print the evaluation as one JSON object." };
        if (withTarget)
        {
            command.Arguments.Add(name);
        }
        Option[] kindOptions = withTarget ? [trainSamples, color] : [];
        foreach (var option in new Option[] { profile, epochs, batchSize, learningRate, seed, set, device, data, output, resume, json }.Concat(kindOptions))
        {
            command.Options.Add(option);
        }
        command.SetAction(async (parse, cancellation) =>
        {
            Dictionary<string, string> parameters;
            try
            {
                parameters = JobParameters.ParseAssignments(parse.GetValue(set));
            }
            catch (ArgumentException ex)
            {
                await stderr.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
            JobParameters.SetIfGiven(parameters, "epochs", parse.GetValue(epochs));
            JobParameters.SetIfGiven(parameters, "batch_size", parse.GetValue(batchSize));
            JobParameters.SetIfGiven(parameters, "lr", parse.GetValue(learningRate));
            JobParameters.SetIfGiven(parameters, "seed", parse.GetValue(seed));
            if (withTarget)
            {
                JobParameters.SetIfGiven(parameters, "train_samples", parse.GetValue(trainSamples));
                JobParameters.SetIfGiven(parameters, "color", parse.GetValue(color));
            }
            var spec = new JobSpec(kind, withTarget ? parse.GetValue(name) : null, parse.GetValue(profile)!, parameters);
            return await RunTrainingAsync(spec, parse.GetValue(data), parse.GetValue(output), parse.GetValue(resume),
                parse.GetValue(device)!, parse.GetValue(json), stdout, stderr, cancellation);
        });
        return command;
    }

    private static async Task<int> RunTrainingAsync(
        JobSpec spec, string? dataOption, string? outOption, bool resume, string device, bool json,
        TextWriter stdout, TextWriter stderr, CancellationToken cancellation)
    {
        using var loggers = CreateLoggerFactory(quiet: json);
        var logger = loggers.CreateLogger("PunkGrid.Train");
        try
        {
            var dataDirectory = DataDirectory.Resolve(dataOption);
            var trainer = JobTrainerFactory.Create(spec, dataDirectory);
            var target = trainer is TraitTrainer t ? t.Options.Trait : spec.Target;
            var outputDirectory = outOption ?? Path.Combine(DataDirectory.FindProjectRoot() ?? Directory.GetCurrentDirectory(),
                ".punkgrid", "train", target is null ? $"{spec.Kind}-{DateTime.UtcNow:yyyyMMdd-HHmmss}" : $"{spec.Kind}-{Slug(target)}-{DateTime.UtcNow:yyyyMMdd-HHmmss}");

            var interactive = !json && !Console.IsOutputRedirected && ReferenceEquals(stdout, Console.Out);
            TrainingProgress latest = default;
            var sink = new DirectoryTrainingSink(outputDirectory, p => latest = p);
            TrainingCheckpoint? checkpoint = null;
            if (resume)
            {
                checkpoint = sink.LatestCheckpoint((path, ex) => LogUnusableCheckpoint(logger, path, ex.Message));
                if (checkpoint is null)
                {
                    LogNoCheckpoint(logger, sink.Directory);
                }
            }
            var context = new TrainContext(sink, device, checkpoint, logger, cancellation);
            LogTraining(logger, spec.DisplayName, spec.Profile, sink.Directory);

            // The trainer runs on its own thread; this one draws progress.
            var run = Task.Factory.StartNew(() => trainer.Train(context), cancellation, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            if (interactive)
            {
                await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .StartAsync(async progress =>
                    {
                        var task = progress.AddTask(spec.DisplayName, maxValue: 1.0);
                        while (!run.IsCompleted)
                        {
                            task.Value = latest.Fraction;
                            task.Description = $"{spec.DisplayName} epoch {latest.Epoch}/{latest.TotalEpochs}";
                            await Task.WhenAny(run, Task.Delay(250, CancellationToken.None));
                        }
                        task.Value = 1.0;
                    });
            }
            var result = await run;

            if (json)
            {
                await stdout.WriteLineAsync(System.Text.Json.Nodes.JsonNode.Parse(result.EvaluationJson)!.ToJsonString());
            }
            else
            {
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
                var table = new Table().Title($"{spec.DisplayName} — held-out evaluation").AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
                foreach (var property in System.Text.Json.Nodes.JsonNode.Parse(result.EvaluationJson)!.AsObject())
                {
                    table.AddRow(property.Key, Markup.Escape(property.Value?.ToString() ?? ""));
                }
                console.Write(table);
                console.MarkupLine($"Artifacts, checkpoints and metrics.csv: [blue]{Markup.Escape(sink.Directory)}[/]");
            }
            return 0;
        }
        catch (OperationCanceledException)
        {
            await stderr.WriteLineAsync("cancelled; the last completed epoch's checkpoint is kept (--resume continues from it)");
            return 130;
        }
        catch (Exception ex) when (ex is ArgumentException or DataFormatException or CheckpointFormatException)
        {
            await stderr.WriteLineAsync($"error: {ex.Message}");
            return BadInput;
        }
    }

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

    private static string Slug(string? value) =>
        string.Concat((value ?? "job").Select(c => char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-'));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipping unusable checkpoint {Path}: {Reason}")]
    private static partial void LogUnusableCheckpoint(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "--resume: no valid checkpoint in {Directory}; starting from scratch")]
    private static partial void LogNoCheckpoint(ILogger logger, string directory);

    [LoggerMessage(Level = LogLevel.Information, Message = "Training {Job} (profile {Profile}) into {Directory}")]
    private static partial void LogTraining(ILogger logger, string job, string profile, string directory);
}
