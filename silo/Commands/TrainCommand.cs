using Microsoft.Extensions.Logging;
using PunkGrid.Contracts;
using PunkGrid.Server.Worker;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Silo;

/// <summary><c>silo train KIND</c>: one job on this machine, outside the cluster, into a folder (checkpoints, metrics, artifacts), resumable.</summary>
public static partial class SiloCommandLine
{
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
                : "seed (the write-up's settings), quick (minutes on a CPU), or tuned (what the seed runs' measurements or a search found).",
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

    private static string Slug(string? value) =>
        string.Concat((value ?? "job").Select(c => char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-'));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipping unusable checkpoint {Path}: {Reason}")]
    private static partial void LogUnusableCheckpoint(ILogger logger, string path, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "--resume: no valid checkpoint in {Directory}; starting from scratch")]
    private static partial void LogNoCheckpoint(ILogger logger, string directory);

    [LoggerMessage(Level = LogLevel.Information, Message = "Training {Job} (profile {Profile}) into {Directory}")]
    private static partial void LogTraining(ILogger logger, string job, string profile, string directory);
}
