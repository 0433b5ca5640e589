using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using PunkGrid.Contracts;
using Spectre.Console;

namespace PunkGrid.Client;

/// <summary>
/// The <c>punkgrid</c> CLI: submit, runs, status, jobs, watch, cancel, retry, metrics, artifacts, workers, results.
/// Every listing takes <c>--json</c>. Exit codes: 0 ok, 2 bad input or unknown id, 3 cluster unreachable.
/// </summary>
public static partial class PunkGridCommandLine
{
    public const int BadInput = 2;
    public const int Unreachable = 3;

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    private sealed class UsageException(string message) : Exception(message);

    private sealed record Io(TextWriter Out, TextWriter Error, IAnsiConsole Console, bool Interactive);

    private static readonly Option<string?> GatewayOption = new("--gateway")
    {
        Description = $"Silo gateway(s), host:port[,host:port]: exactly these (default: the live gateways of the membership table when --postgres/$PUNKGRID_PG is known, then $PUNKGRID_GATEWAYS, then {ClusterConnection.DefaultGateway}).",
        Recursive = true,
    };

    private static readonly Option<string?> TlsOption = new("--tls-dir")
    {
        Description = "The folder with the cluster's certificate authority (ca.crt) and this operator's certificate (client.pfx) (default: $PUNKGRID_TLS_DIR).",
        Recursive = true,
    };

    private static readonly Option<string?> PostgresOption = new("--postgres")
    {
        Description = "The cluster's PostgreSQL connection string, to find the live gateways in its membership table (default: $PUNKGRID_PG).",
        Recursive = true,
    };
    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print JSON instead of a table." };

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation = default)
    {
        var interactive = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        var console = interactive ? AnsiConsole.Console : AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, Interactive = InteractionSupport.No });
        if (!interactive)
        {
            console.Profile.Width = 200; // redirected output (logs, CI, tests) gets whole rows
        }
        var io = new Io(stdout, stderr, console, interactive);
        var root = new RootCommand("punkgrid: submit and watch PunkGrid training runs.");
        root.Options.Add(GatewayOption);
        root.Options.Add(PostgresOption);
        root.Options.Add(TlsOption);
        root.Subcommands.Add(SubmitCommand(io));
        root.Subcommands.Add(Listing("runs", "Recent runs with their job counts.", [new Option<int>("--limit") { DefaultValueFactory = _ => 20, Description = "How many." }], RunsAsync, io));
        root.Subcommands.Add(WithId("status", "RUN or JOB", "A run's counts, or a job's state and timeline.", StatusAsync, io));
        root.Subcommands.Add(WithId("jobs", "RUN", "The jobs of a run.", JobsAsync, io));
        root.Subcommands.Add(WithId("watch", "RUN", "Live progress bars until the run finishes.", WatchAsync, io, json: false));
        root.Subcommands.Add(WithId("cancel", "RUN or JOB", "Cancel a run's unfinished jobs, or one job.", CancelAsync, io, json: false));
        root.Subcommands.Add(WithId("retry", "JOB", "Queue a Failed or Cancelled job again.", RetryAsync, io, json: false));
        root.Subcommands.Add(MetricsCommand(io));
        root.Subcommands.Add(ArtifactsCommand(io));
        root.Subcommands.Add(Listing("workers", "Worker silos: device, slots in use, last heartbeat.", [], WorkersAsync, io));
        root.Subcommands.Add(WithId("results", "RUN", "The per-trait accuracy/precision/recall/F1 table of a sweep.", ResultsAsync, io));
        root.Subcommands.Add(GenerateCommand(io));
        root.Subcommands.Add(PredictCommand(io));
        root.Subcommands.Add(ScheduleCommand(io));
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // A line the parser refuses is bad input like any other: exit 2, what is wrong, and the usage of the command.
            foreach (var error in parse.Errors)
            {
                await stderr.WriteLineAsync($"error: {Plain(error.Message)}");
            }
            await stderr.WriteLineAsync($"usage: {Usage(parse.CommandResult.Command)} (see {CommandPath(parse.CommandResult.Command)} --help)");
            return BadInput;
        }
        return await parse.InvokeAsync(new System.CommandLine.InvocationConfiguration { Output = stdout, Error = stderr }, cancellation);
    }

    /// <summary>The parser's messages with .NET type names said in words ('System.Nullable`1[System.Int32]' → 'a whole number').</summary>
    private static string Plain(string message) => System.Text.RegularExpressions.Regex.Replace(message,
        @"'System\.(?:Nullable`1\[System\.)?(\w+)\]?'", m => m.Groups[1].Value switch
        {
            "Int32" => "a whole number (32-bit)",
            "Int64" => "a whole number",
            "Double" or "Single" => "a number",
            "Boolean" => "true or false",
            var other => other,
        });

    private static string CommandPath(Command command) =>
        command.Parents.OfType<Command>().FirstOrDefault() is { } parent && parent is not RootCommand
            ? $"{CommandPath(parent)} {command.Name}"
            : command is RootCommand ? "punkgrid" : $"punkgrid {command.Name}";

    private static string Usage(Command command)
    {
        var parts = new List<string> { CommandPath(command) };
        parts.AddRange(command.Arguments.Select(a => a.Name.ToUpperInvariant()));
        if (command.Subcommands.Count > 0)
        {
            parts.Add(string.Join('|', command.Subcommands.Select(c => c.Name)));
        }
        parts.AddRange(command.Options.Where(o => o.Required).Select(o => $"{o.Name} VALUE"));
        if (command.Options.Any(o => !o.Required))
        {
            parts.Add("[options]");
        }
        return string.Join(' ', parts);
    }

    /// <summary>
    /// Connects, runs the action, and turns the known failures into messages and exit codes. A call the cluster rejected
    /// without delivering it (a silo died a moment ago and the cluster has not noticed yet) is tried again, up to three times
    /// on a fresh connection: never delivered, it is safe to repeat whatever it was.
    /// </summary>
    private static async Task<int> Execute(ParseResult parse, Io io, CancellationToken cancellation, Func<IClusterClient, Task<int>> action)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await ClusterConnection.ConnectAsync(parse.GetValue(GatewayOption), cancellation, parse.GetValue(PostgresOption), parse.GetValue(TlsOption));
                return await action(connection.Client);
            }
            catch (ClusterUnreachableException ex)
            {
                await io.Error.WriteLineAsync($"error: {ex.Message}");
                return Unreachable;
            }
            catch (Exception ex) when (ex is UsageException or ArgumentException)
            {
                await io.Error.WriteLineAsync($"error: {ex.Message}");
                return BadInput;
            }
            catch (Orleans.Runtime.OrleansMessageRejectionException) when (attempt < 3)
            {
                await Task.Delay(TimeSpan.FromSeconds(attempt), cancellation);
            }
            catch (Exception ex) when (ex is Orleans.Runtime.OrleansException or TimeoutException)
            {
                await io.Error.WriteLineAsync($"error: the cluster did not answer ({ex.GetBaseException().Message}); try again, or see `punkgrid workers`");
                return Unreachable;
            }
        }
    }

    private static Command Listing(string name, string description, Option[] options, Func<IClusterClient, ParseResult, Io, Task<int>> action, Io io)
    {
        var command = new Command(name, description);
        foreach (var option in options.Append(JsonOption))
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, client => action(client, parse, io)));
        return command;
    }

    private static Command WithId(string name, string what, string description, Func<IClusterClient, string, ParseResult, Io, Task<int>> action, Io io, bool json = true)
    {
        var command = new Command(name, description);
        var id = new Argument<string>("id") { Description = what };
        command.Arguments.Add(id);
        if (json)
        {
            command.Options.Add(JsonOption);
        }
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, client => action(client, parse.GetValue(id)!, parse, io)));
        return command;
    }

    private static async Task<int> PrintJson(Io io, object value)
    {
        await io.Out.WriteLineAsync(JsonSerializer.Serialize(value, Json));
        return 0;
    }

    private static UsageException UnknownRun(string id) => new($"unknown run '{id}' (see `punkgrid runs`)");

    private static UsageException UnknownJob(string id) => new($"unknown job '{id}' (job ids look like RUN.trait, see `punkgrid jobs RUN`)");

    // ---- submit ----

    /// <summary>What a <c>submit …</c> line does with the run it describes: <paramref name="build"/> validates and makes it.</summary>
    private delegate Task<int> RunHandler(ParseResult parse, CancellationToken cancellation, Func<(string? RunId, RunSpec Spec)> build);

    private static RunHandler SubmitHandler(Io io) => (parse, cancellation, build) => Execute(parse, io, cancellation, client =>
    {
        var (id, spec) = build();
        id ??= $"{(spec.Kind == JobKinds.Trait ? "traits" : spec.Kind)}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
        return SubmitAsync(client, id, spec, parse, io, parse.GetValue<bool>("--watch"));
    });

    private static Command SubmitCommand(Io io, RunHandler? handler = null)
    {
        handler ??= SubmitHandler(io);
        var submit = new Command("submit", "Submit a run.");
        var traits = new Command("traits", "A sweep of trait classifiers: one job per trait.");
        var all = new Option<bool>("--all") { Description = "All 92 traits." };
        var names = new Option<string?>("--traits") { Description = "Comma-separated trait names, e.g. Male,Hoodie,\"Big Shades\"." };
        var profile = new Option<string>("--profile") { DefaultValueFactory = _ => JobSpec.DefaultProfile, Description = "seed (the write-up), tuned (rgb, Adam, a threshold chosen on a validation split), demo (the tuned recipe, short) or quick (a smoke test)." };
        var epochs = new Option<int?>("--epochs") { Description = "Override epochs." };
        var samples = new Option<int?>("--train-samples") { Description = "Override the balanced training set size." };
        var color = new Option<string?>("--color") { Description = "gray (seed) or rgb." };
        var set = new Option<string[]>("--set") { Description = "Override any hyperparameter: key=value (repeatable)." };
        var device = new Option<string?>("--device") { Description = "Where the jobs may run: any (default), cpu, or cuda (GPU workers only)." };
        var priority = new Option<int>("--priority") { DefaultValueFactory = _ => 0, Description = "Higher runs first." };
        var runId = new Option<string?>("--run-id") { Description = "Your own run id: submitting it again changes nothing (idempotent)." };
        var watch = new Option<bool>("--watch") { Description = "Watch the run after submitting it." };
        foreach (var option in new Option[] { all, names, profile, epochs, samples, color, set, device, priority, runId, watch, JsonOption })
        {
            traits.Options.Add(option);
        }
        traits.SetAction((parse, cancellation) => handler(parse, cancellation, () =>
        {
            var list = (parse.GetValue(names) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parse.GetValue(all) == list.Length > 0)
            {
                throw new UsageException("give either --all or --traits A,B,… (not both, not neither)");
            }
            var parameters = JobParameters.ParseAssignments(parse.GetValue(set));
            JobParameters.SetIfGiven(parameters, "epochs", parse.GetValue(epochs));
            JobParameters.SetIfGiven(parameters, "train_samples", parse.GetValue(samples));
            JobParameters.SetIfGiven(parameters, "color", parse.GetValue(color));
            JobParameters.SetIfGiven(parameters, "device", parse.GetValue(device));
            return (parse.GetValue(runId), new RunSpec(JobKinds.Trait, list, parse.GetValue(all), parse.GetValue(profile)!, parameters, parse.GetValue(priority)));
        }));
        submit.Subcommands.Add(traits);
        submit.Subcommands.Add(SingleJobSubmit(JobKinds.Vae, "The PunkVAE (one job): PNG reconstructions, prior samples and an interpolation as artifacts.", handler));
        submit.Subcommands.Add(SingleJobSubmit(JobKinds.Pokemon, "The Pokémon classifier (one job): test top-1/top-5, per-class accuracy, the duplicate report.", handler));
        submit.Subcommands.Add(SingleJobSubmit(JobKinds.Gan, "The Punk GAN (one job; --set conditional=true conditions it on the 92 traits): sample grids as artifacts.", handler));
        submit.Subcommands.Add(SingleJobSubmit(JobKinds.Noop,
            "Jobs that train nothing, for testing and measuring the orchestrator: --set jobs=N duration_ms=… epochs=… metrics_per_second=… checkpoint_bytes=….", handler));
        return submit;
    }

    /// <summary><c>submit vae …</c>: a run of one job of a kind that has no target.</summary>
    private static Command SingleJobSubmit(string kind, string description, RunHandler handler)
    {
        var command = new Command(kind, description);
        var profile = new Option<string>("--profile") { DefaultValueFactory = _ => JobSpec.DefaultProfile, Description = "seed (the write-up), quick (minutes on a CPU), or for gan and pokemon tuned (what the seed runs' measurements asked for)." };
        var epochs = new Option<int?>("--epochs") { Description = "Override epochs." };
        var set = new Option<string[]>("--set") { Description = "Override any hyperparameter: key=value (repeatable)." };
        var device = new Option<string?>("--device") { Description = "Where the job may run: any (default), cpu, or cuda." };
        var priority = new Option<int>("--priority") { DefaultValueFactory = _ => 0, Description = "Higher runs first." };
        var runId = new Option<string?>("--run-id") { Description = "Your own run id: submitting it again changes nothing (idempotent)." };
        var watch = new Option<bool>("--watch") { Description = "Watch the run after submitting it." };
        foreach (var option in new Option[] { profile, epochs, set, device, priority, runId, watch, JsonOption })
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, cancellation) => handler(parse, cancellation, () =>
        {
            var parameters = JobParameters.ParseAssignments(parse.GetValue(set));
            JobParameters.SetIfGiven(parameters, "epochs", parse.GetValue(epochs));
            JobParameters.SetIfGiven(parameters, "device", parse.GetValue(device));
            return (parse.GetValue(runId), new RunSpec(kind, [], false, parse.GetValue(profile)!, parameters, parse.GetValue(priority)));
        }));
        return command;
    }

    private static async Task<int> SubmitAsync(IClusterClient client, string id, RunSpec spec, ParseResult parse, Io io, bool watch)
    {
        var result = await client.GetGrain<IRunGrain>(id).Submit(spec);
        if (result.Error is not null)
        {
            throw new UsageException(result.Error);
        }
        if (parse.GetValue(JsonOption))
        {
            await PrintJson(io, result);
        }
        else
        {
            io.Console.MarkupLine(result.Created
                ? $"run [bold]{Markup.Escape(id)}[/]: {result.JobCount} job(s) queued"
                : $"run [bold]{Markup.Escape(id)}[/] already exists ({result.JobCount} job(s)); nothing changed");
        }
        return watch ? await WatchAsync(client, id, parse, io) : 0;
    }

    // ---- listings ----

    private static async Task<int> RunsAsync(IClusterClient client, ParseResult parse, Io io)
    {
        var runs = (await client.GetGrain<ICatalogGrain>(0).ListRuns(parse.GetValue<int>("--limit"))).Items;
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, runs);
        }
        var table = new Table().AddColumns("run", "kind", "profile", "state", "jobs", "queued", "running", "succeeded", "failed", "cancelled", "progress", "created");
        foreach (var r in runs)
        {
            table.AddRow(Markup.Escape(r.RunId), r.Kind, r.Profile, r.State, $"{r.Total}", $"{r.Queued}", $"{r.Running}", $"{r.Succeeded}", $"{r.Failed}", $"{r.Cancelled}",
                $"{r.Progress:P0}", r.CreatedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<int> StatusAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var run = await client.GetGrain<IRunGrain>(id).GetSummary();
        if (run is not null)
        {
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, run with { });
            }
            io.Console.MarkupLine($"run [bold]{Markup.Escape(run.RunId)}[/] ({run.Kind}, profile {run.Profile}, priority {run.Priority}): [bold]{run.State}[/], {run.Progress:P0}");
            io.Console.MarkupLine($"  {run.Total} jobs: {run.Queued} queued, {run.Running} running, {run.Succeeded} succeeded, {run.Failed} failed, {run.Cancelled} cancelled");
            return 0;
        }
        var job = await client.GetGrain<IJobGrain>(id).GetDetail() ?? throw new UsageException($"unknown run or job '{id}' (see `punkgrid runs`, `punkgrid jobs RUN`)");
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, job);
        }
        var j = job.Job;
        io.Console.MarkupLine($"job [bold]{Markup.Escape(j.JobId)}[/] ({Markup.Escape(job.Spec.DisplayName)}, profile {job.Spec.Profile}): [bold]{j.State}[/], attempt {j.Attempt} ({j.LostLeases} lost lease(s), {j.Failures}/{j.MaxFailures} failures), epoch {j.Epoch}/{j.TotalEpochs}, {j.Progress:P0}");
        if (j.Error is not null)
        {
            io.Console.MarkupLine($"  last error: {Markup.Escape(j.Error)}");
        }
        var table = new Table().AddColumns("at", "attempt", "from", "to", "worker", "detail");
        foreach (var e in job.Events)
        {
            table.AddRow(e.At.ToLocalTime().ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture), $"{e.Attempt}", e.FromState ?? "", e.ToState, Markup.Escape(e.WorkerId ?? ""), Markup.Escape(e.Detail ?? ""));
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<IReadOnlyList<JobSummary>> RequireJobs(IClusterClient client, string runId)
    {
        var run = client.GetGrain<IRunGrain>(runId);
        if (await run.GetSummary() is null)
        {
            throw UnknownRun(runId);
        }
        return await run.GetJobs();
    }

    private static async Task<int> JobsAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var jobs = await RequireJobs(client, id);
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, jobs);
        }
        var table = new Table().AddColumns("job", "target", "state", "attempt", "lost", "failures", "epoch", "progress", "worker", "result", "error");
        foreach (var j in jobs)
        {
            table.AddRow(Markup.Escape(j.JobId), Markup.Escape(j.Target ?? ""), j.State.ToString(), $"{j.Attempt}", $"{j.LostLeases}", $"{j.Failures}/{j.MaxFailures}", $"{j.Epoch}/{j.TotalEpochs}",
                $"{j.Progress:P0}", Markup.Escape(j.WorkerId ?? ""), string.Join(", ", j.Summary.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key} {p.Value:G4}"))),
                Markup.Escape(j.Error ?? ""));
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<int> WorkersAsync(IClusterClient client, ParseResult parse, Io io)
    {
        var workers = await client.GetGrain<ICatalogGrain>(0).ListWorkers();
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, workers);
        }
        var table = new Table().AddColumns("worker", "silo", "device", "slots", "running", "last heartbeat", "alive");
        foreach (var w in workers)
        {
            table.AddRow(Markup.Escape(w.WorkerId), Markup.Escape(w.Silo), w.Device, $"{w.Slots}", $"{w.Running}",
                w.LastHeartbeat.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture), w.Alive ? "yes" : "no");
        }
        io.Console.Write(table);
        return 0;
    }

    private static async Task<int> ResultsAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        if (await client.GetGrain<IRunGrain>(id).GetSummary() is null)
        {
            throw UnknownRun(id);
        }
        var rows = await client.GetGrain<IRunGrain>(id).GetResults();
        if (parse.GetValue(JsonOption))
        {
            return await PrintJson(io, rows);
        }
        RenderResults(io, id, rows);
        return 0;
    }

    private static void RenderResults(Io io, string runId, IReadOnlyList<TraitResultRow> rows)
    {
        static string F(double? v) => v?.ToString("F4", CultureInfo.InvariantCulture) ?? "";
        var table = new Table().Title($"results of {Markup.Escape(runId)} (held-out split)").AddColumns("trait", "state", "accuracy", "precision", "recall", "f1", "test positives", "seconds");
        foreach (var r in rows)
        {
            table.AddRow(Markup.Escape(r.Trait), r.State.ToString(), F(r.Accuracy), F(r.Precision), F(r.Recall), F(r.F1), r.TestPositives?.ToString(CultureInfo.InvariantCulture) ?? "",
                r.Seconds?.ToString("F1", CultureInfo.InvariantCulture) ?? "");
        }
        var done = rows.Where(r => r.F1 is not null).ToList();
        if (done.Count > 0)
        {
            table.Caption($"{done.Count} evaluated; mean accuracy {done.Average(r => r.Accuracy!.Value):F4}, mean F1 {done.Average(r => r.F1!.Value):F4}");
        }
        io.Console.Write(table);
    }

    // ---- watch ----

    private static async Task<int> WatchAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var run = client.GetGrain<IRunGrain>(id);
        if (await run.GetSummary() is null)
        {
            throw UnknownRun(id);
        }
        RunSnapshot? last = null;
        if (io.Interactive)
        {
            await io.Console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
                .StartAsync(async progress =>
                {
                    var overall = progress.AddTask($"run {Markup.Escape(id)}", maxValue: 1.0);
                    var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                    await foreach (var snapshot in run.Watch(500))
                    {
                        last = snapshot;
                        var s = snapshot.Summary;
                        overall.Value = s.Progress;
                        overall.Description = $"run {Markup.Escape(id)}: {s.Succeeded}/{s.Total} done, {s.Running} running, {s.Queued} queued, {s.Failed} failed";
                        foreach (var job in snapshot.Jobs.Where(j => j.State != JobState.Queued))
                        {
                            if (!tasks.TryGetValue(job.JobId, out var task))
                            {
                                task = tasks[job.JobId] = progress.AddTask(Markup.Escape(job.Target ?? job.JobId), maxValue: 1.0);
                            }
                            task.Value = JobStates.IsFinal(job.State) ? 1.0 : job.Progress;
                            if (JobStates.IsFinal(job.State) && !task.IsFinished)
                            {
                                task.StopTask();
                            }
                            task.Description = $"{Markup.Escape(job.Target ?? job.JobId)} [grey]{job.State}{(job.Attempt > 1 ? $" (attempt {job.Attempt})" : "")}[/]";
                        }
                    }
                    overall.Value = 1.0;
                });
        }
        else
        {
            var lastLine = "";
            await foreach (var snapshot in run.Watch(1000))
            {
                last = snapshot;
                var s = snapshot.Summary;
                var line = $"{DateTime.Now:HH:mm:ss} run {id}: {s.Progress:P0} — {s.Succeeded}/{s.Total} succeeded, {s.Running} running, {s.Queued} queued, {s.Failed} failed, {s.Cancelled} cancelled";
                if (line[9..] != lastLine)
                {
                    await io.Out.WriteLineAsync(line);
                    lastLine = line[9..];
                }
            }
        }
        if (last is null)
        {
            throw UnknownRun(id);
        }
        io.Console.MarkupLine($"run [bold]{Markup.Escape(id)}[/] finished: {last.Summary.State}");
        return last.Summary.Failed > 0 ? 1 : 0;
    }

    // ---- commands on jobs ----

    private static async Task<int> CancelAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var result = await client.GetGrain<IJobGrain>(id).Cancel("cancelled by operator");
        if (result.NotFound)
        {
            result = await client.GetGrain<IRunGrain>(id).Cancel();
        }
        if (result.NotFound)
        {
            throw new UsageException($"unknown run or job '{id}'");
        }
        if (!result.Ok)
        {
            throw new UsageException(result.Message);
        }
        await io.Out.WriteLineAsync(result.Message);
        return 0;
    }

    private static async Task<int> RetryAsync(IClusterClient client, string id, ParseResult parse, Io io)
    {
        var result = await client.GetGrain<IJobGrain>(id).Retry();
        if (result.NotFound)
        {
            throw UnknownJob(id);
        }
        if (!result.Ok)
        {
            throw new UsageException(result.Message);
        }
        await io.Out.WriteLineAsync(result.Message);
        return 0;
    }

    // ---- inference on the cluster ----

    private static Command GenerateCommand(Io io)
    {
        var generate = new Command("generate", "Draw punks with a run's trained VAE or GAN (runs on a worker silo); writes a PNG grid.");
        foreach (var kind in new[] { JobKinds.Vae, JobKinds.Gan })
        {
            var command = new Command(kind, $"Punks from the {kind.ToUpperInvariant()} of a run.");
            var run = new Option<string>("--run") { Required = true, Description = "The run whose model to use." };
            var traits = new Option<string?>("--traits") { Description = "Traits to draw (conditional GAN only), e.g. Female,Tiara." };
            var count = new Option<int>("--count") { DefaultValueFactory = _ => 16, Description = "How many punks (1..256)." };
            var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1, Description = "Seed of the noise." };
            var output = new Option<string>("--out") { Required = true, Description = "PNG file to write." };
            foreach (var option in new Option[] { run, count, seed, output }.Concat(kind == JobKinds.Gan ? [traits] : []))
            {
                command.Options.Add(option);
            }
            command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
            {
                var asked = (parse.GetValue(traits) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var result = await client.GetGrain<IInferenceGrain>(0).Generate(parse.GetValue(run)!, kind, asked, parse.GetValue(count), parse.GetValue(seed));
                if (result.Png is null)
                {
                    throw new UsageException(result.Error ?? "nothing was generated");
                }
                var path = parse.GetValue(output)!;
                await File.WriteAllBytesAsync(path, result.Png, cancellation);
                await io.Out.WriteLineAsync($"wrote {path}: {parse.GetValue(count)} punk(s) from job {result.JobId}");
                return 0;
            }));
            generate.Subcommands.Add(command);
        }
        return generate;
    }

    private static Command PredictCommand(Io io)
    {
        var predict = new Command("predict", "Score punks with a run's trained models (runs on a worker silo).");
        var traits = new Command("traits", "The probability of each trait of a sweep for one punk, its true traits beside them when known.");
        var run = new Option<string>("--run") { Required = true, Description = "The trait sweep whose models to use." };
        var punk = new Option<int?>("--punk") { Description = "A punk id, 0..9999." };
        var image = new Option<string?>("--image") { Description = "A 24x24 punk image (PNG)." };
        foreach (var option in new Option[] { run, punk, image, JsonOption })
        {
            traits.Options.Add(option);
        }
        traits.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var (id, file) = (parse.GetValue(punk), parse.GetValue(image));
            if (id is null == file is null)
            {
                throw new UsageException("give either --punk ID or --image FILE");
            }
            var bytes = file is null ? null : await ReadImageAsync(file, cancellation);
            var result = await client.GetGrain<IInferenceGrain>(0).PredictTraits(parse.GetValue(run)!, id, bytes);
            if (result.Error is not null)
            {
                throw new UsageException(result.Error);
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, result.Predictions);
            }
            var table = new Table().AddColumns("trait", "probability", "threshold", "predicted", "actual");
            foreach (var p in result.Predictions.OrderByDescending(p => p.Probability))
            {
                table.AddRow(Markup.Escape(p.Trait), p.Probability.ToString("F4", CultureInfo.InvariantCulture),
                    p.Threshold.ToString("F3", CultureInfo.InvariantCulture), p.Predicted ? "yes" : "no",
                    p.Actual switch { true => "yes", false => "no", null => "" });
            }
            io.Console.Write(table);
            return 0;
        }));
        predict.Subcommands.Add(traits);

        var pokemon = new Command("pokemon", "The five most likely Pokémon for an image, from a run's classifier.");
        var pokemonRun = new Option<string>("--run") { Required = true, Description = "The run whose Pokémon classifier to use." };
        var pokemonImage = new Option<string>("--image") { Required = true, Description = "An image file (JPEG, PNG, BMP, GIF; any size)." };
        foreach (var option in new Option[] { pokemonRun, pokemonImage, JsonOption })
        {
            pokemon.Options.Add(option);
        }
        pokemon.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var file = parse.GetValue(pokemonImage)!;
            var result = await client.GetGrain<IInferenceGrain>(0).PredictPokemon(parse.GetValue(pokemonRun)!, await ReadImageAsync(file, cancellation));
            if (result.Error is not null)
            {
                throw new UsageException(result.Error);
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, result.Top5);
            }
            var table = new Table().AddColumns("rank", "pokemon", "probability");
            foreach (var (p, rank) in result.Top5.Select((p, i) => (p, i + 1)))
            {
                table.AddRow($"{rank}", Markup.Escape(p.Name), p.Probability.ToString("P1", CultureInfo.InvariantCulture));
            }
            io.Console.Write(table);
            return 0;
        }));
        predict.Subcommands.Add(pokemon);
        return predict;
    }

    private static Command MetricsCommand(Io io)
    {
        var command = new Command("metrics", "A job's metrics (every attempt's), step by step.");
        var id = new Argument<string>("job");
        var name = new Option<string?>("--name") { Description = "Only this metric (e.g. train_loss, test_f1)." };
        var csv = new Option<bool>("--csv") { Description = "Print CSV: attempt,epoch,step,name,value." };
        command.Arguments.Add(id);
        command.Options.Add(name);
        command.Options.Add(csv);
        command.Options.Add(JsonOption);
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var job = client.GetGrain<IJobGrain>(parse.GetValue(id)!);
            if (await job.GetDetail() is null)
            {
                throw UnknownJob(parse.GetValue(id)!);
            }
            // Page through every point (the server sends at most a page at a time).
            var points = new List<MetricPoint>();
            var query = new MetricQuery(parse.GetValue(name), Limit: MetricQuery.MaxLimit);
            while (true)
            {
                var page = await job.GetMetrics(query);
                points.AddRange(page.Points);
                if (page.NextAfterStep is not { } next)
                {
                    break;
                }
                query = query with { AfterStep = next };
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, points);
            }
            if (parse.GetValue(csv))
            {
                await io.Out.WriteLineAsync("attempt,epoch,step,name,value");
                foreach (var p in points)
                {
                    await io.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{p.Attempt},{p.Epoch},{p.Step},{p.Name},{p.Value:R}"));
                }
                return 0;
            }
            // Table: the last value of each metric per epoch.
            var table = new Table().AddColumns("epoch", "step", "metric", "value", "attempt");
            foreach (var group in points.GroupBy(p => (p.Epoch, p.Name)).OrderBy(g => g.Key.Epoch).ThenBy(g => g.Key.Name, StringComparer.Ordinal))
            {
                var p = group.MaxBy(x => (x.Step, x.Attempt))!;
                table.AddRow($"{p.Epoch}", $"{p.Step}", p.Name, p.Value.ToString("G6", CultureInfo.InvariantCulture), $"{p.Attempt}");
            }
            table.Caption($"{points.Count} points; last value per epoch shown (--csv for all)");
            io.Console.Write(table);
            return 0;
        }));
        return command;
    }

    /// <summary>An image to send for inference: refused here, before anything is sent, when missing or over the size limit.</summary>
    private static async Task<byte[]> ReadImageAsync(string file, CancellationToken cancellation)
    {
        var info = new FileInfo(file);
        if (!info.Exists)
        {
            throw new UsageException($"image file not found: {file}");
        }
        if (info.Length > InferenceLimits.MaxImageBytes)
        {
            throw new UsageException($"image file {file} is {info.Length} bytes; at most {InferenceLimits.MaxImageBytes} are accepted");
        }
        return await File.ReadAllBytesAsync(file, cancellation);
    }

    private static Command ArtifactsCommand(Io io)
    {
        var command = new Command("artifacts", "List a job's artifacts, or save them with --out DIR.");
        var id = new Argument<string>("job");
        var output = new Option<string?>("--out") { Description = "Folder to write the artifacts into." };
        command.Arguments.Add(id);
        command.Options.Add(output);
        command.Options.Add(JsonOption);
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, async client =>
        {
            var job = client.GetGrain<IJobGrain>(parse.GetValue(id)!);
            if (await job.GetDetail() is null)
            {
                throw UnknownJob(parse.GetValue(id)!);
            }
            var artifacts = await job.GetArtifacts();
            if (parse.GetValue(output) is { } folder)
            {
                if (File.Exists(folder))
                {
                    throw new UsageException($"--out '{folder}' is a file; give a folder to write the artifacts into (it is created if missing)");
                }
                Directory.CreateDirectory(folder);
                var root = Path.GetFullPath(folder);
                foreach (var info in artifacts)
                {
                    // Only a plain file name lands, and only inside --out: never a path the server chose.
                    var target = Path.GetFullPath(Path.Combine(root, info.Name));
                    if (info.Name.Length == 0 || Path.GetFileName(info.Name) != info.Name || info.Name is "." or ".." || Path.GetDirectoryName(target) != root.TrimEnd(Path.DirectorySeparatorChar))
                    {
                        await io.Error.WriteLineAsync($"skipped artifact '{info.Name}': not a plain file name");
                        continue;
                    }
                    var content = await job.GetArtifact(info.Name);
                    if (content is not null)
                    {
                        await File.WriteAllBytesAsync(target, content.Content, cancellation);
                        await io.Error.WriteLineAsync($"wrote {Path.Combine(folder, info.Name)} ({info.SizeBytes} bytes)");
                    }
                }
            }
            if (parse.GetValue(JsonOption))
            {
                return await PrintJson(io, artifacts);
            }
            var table = new Table().AddColumns("name", "type", "bytes", "sha256", "attempt");
            foreach (var a in artifacts)
            {
                table.AddRow(Markup.Escape(a.Name), Markup.Escape(a.ContentType), $"{a.SizeBytes}", a.Sha256[..16], $"{a.Attempt}");
            }
            io.Console.Write(table);
            return 0;
        }));
        return command;
    }
}
