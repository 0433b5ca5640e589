using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace PunkGrid.Client;

/// <summary>
/// The <c>punkgrid</c> CLI: the root command, its global options, parsing, and how a verb reaches the cluster (<see cref="Execute"/>).
/// Each verb group is a file of <c>Commands/</c>; <c>punkgrid --help</c> lists them as System.CommandLine builds them.
/// Every listing takes <c>--json</c>. Exit codes: 0 ok, 2 bad input or unknown id, 3 cluster unreachable.
/// </summary>
public static partial class PunkGridCommandLine
{
    public const int BadInput = 2;
    public const int Unreachable = 3;

    private sealed class UsageException(string message) : Exception(message);

    private sealed record Io(TextWriter Out, TextWriter Error, IAnsiConsole Console, bool Interactive);

    private static readonly Option<string?> GatewayOption = new("--gateway")
    {
        Description = $"Silo gateway(s), host:port[,host:port]: exactly these (default: the live gateways of the membership table when --postgres/$PUNKGRID__Postgres is known, then $PUNKGRID__Gateways, then {ClusterConnection.DefaultGateway}).",
        Recursive = true,
    };

    private static readonly Option<string?> TlsOption = new("--tls-dir")
    {
        Description = "The folder with the cluster's certificate authority (ca.crt) and this operator's certificate (client.pfx) (default: $PUNKGRID__Tls__Directory).",
        Recursive = true,
    };

    private static readonly Option<string?> PostgresOption = new("--postgres")
    {
        Description = "The cluster's PostgreSQL connection string, to find the live gateways in its membership table (default: $PUNKGRID__Postgres).",
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
        root.Subcommands.Add(WithId("status", "RUN or JOB", "A run's counts, or a job's state and timeline.", StatusAsync, io, repeatable: true));
        root.Subcommands.Add(WithId("jobs", "RUN", "The jobs of a run.", JobsAsync, io, repeatable: true));
        root.Subcommands.Add(WithId("watch", "RUN", "Live progress bars until the run finishes.", WatchAsync, io, json: false));
        root.Subcommands.Add(WithId("cancel", "RUN or JOB", "Cancel a run's unfinished jobs, or one job.", CancelAsync, io, json: false));
        root.Subcommands.Add(WithId("retry", "JOB", "Queue a Failed or Cancelled job again.", RetryAsync, io, json: false));
        root.Subcommands.Add(MetricsCommand(io));
        root.Subcommands.Add(LogsCommand(io));
        root.Subcommands.Add(ArtifactsCommand(io));
        root.Subcommands.Add(Listing("workers", "Worker silos: device, slots in use, last heartbeat.", [], WorkersAsync, io));
        root.Subcommands.Add(ResultsCommand(io));
        root.Subcommands.Add(GenerateCommand(io));
        root.Subcommands.Add(PredictCommand(io));
        root.Subcommands.Add(ScheduleCommand(io));
        root.Subcommands.Add(GcCommand(io));
        root.Subcommands.Add(HooksCommand(io));
        root.Subcommands.Add(ModelsCommand(io));
        root.Subcommands.Add(SearchCommand(io));
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
    /// Connects, runs the action, and turns the known failures into messages and exit codes. A call the cluster never
    /// delivered (rejected, or its silo could not be connected to: it died a moment ago and the cluster has not noticed yet)
    /// is tried again, up to five times on a fresh connection: never delivered, it is safe to repeat whatever it was. A
    /// <paramref name="repeatable"/> action (one that only reads) is also tried again when a gateway connection closes while
    /// it waits — the silo it went through died, and its answer would never come (the client would wait out its response
    /// timeout, 30 s).
    /// </summary>
    private static async Task<int> Execute(ParseResult parse, Io io, CancellationToken cancellation, Func<IClusterClient, Task<int>> action, bool repeatable = false)
    {
        var settings = CliSettings.FromEnvironment();
        foreach (var warning in settings.Warnings)
        {
            await io.Error.WriteLineAsync($"warning: {warning}");
        }
        settings = settings with
        {
            Postgres = NullIfBlank(parse.GetValue(PostgresOption)) ?? settings.Postgres,
            TlsDirectory = NullIfBlank(parse.GetValue(TlsOption)) ?? settings.TlsDirectory,
        };
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await ClusterConnection.ConnectAsync(parse.GetValue(GatewayOption), settings, cancellation);
                var work = action(connection.Client);
                if (repeatable && attempt < UndeliveredAttempts && await Task.WhenAny(work, connection.GatewayLost) != work)
                {
                    // Abandoned: disposing the connection fails the call; nothing it would print is printed.
                    _ = work.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    continue;
                }
                return await work;
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
            catch (DatabaseUnavailableException ex)
            {
                await io.Error.WriteLineAsync($"error: {ex.Message}");
                return Unreachable;
            }
            catch (Exception ex) when (attempt < UndeliveredAttempts && Undelivered(ex))
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

    /// <summary>How often a call the cluster never took is sent again: waits of 1, 2, 3 and 4 s outlast a silo's death being noticed.</summary>
    private const int UndeliveredAttempts = 5;

    /// <summary>
    /// A call that never reached a grain: rejected by the cluster, or not sent because the silo holding the grain could not
    /// be connected to (it died a moment ago and the cluster has not declared it dead yet). Safe to send again, whatever it was.
    /// </summary>
    private static bool Undelivered(Exception ex) =>
        ex is Orleans.Runtime.OrleansMessageRejectionException or Orleans.Runtime.Messaging.ConnectionFailedException
        || (ex.InnerException is { } inner && Undelivered(inner));

    private static Command Listing(string name, string description, Option[] options, Func<IClusterClient, ParseResult, Io, Task<int>> action, Io io)
    {
        var command = new Command(name, description);
        foreach (var option in options.Append(JsonOption))
        {
            command.Options.Add(option);
        }
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, client => action(client, parse, io), repeatable: true));
        return command;
    }

    /// <param name="repeatable">Whether the verb only reads, so that it may be sent again (<see cref="Execute"/>).</param>
    private static Command WithId(string name, string what, string description, Func<IClusterClient, string, ParseResult, Io, Task<int>> action, Io io, bool json = true, bool repeatable = false)
    {
        var command = new Command(name, description);
        var id = new Argument<string>("id") { Description = what };
        command.Arguments.Add(id);
        if (json)
        {
            command.Options.Add(JsonOption);
        }
        command.SetAction((parse, cancellation) => Execute(parse, io, cancellation, client => action(client, parse.GetValue(id)!, parse, io), repeatable));
        return command;
    }

    private static async Task<int> PrintJson<T>(Io io, T value, JsonTypeInfo<T> type)
    {
        await io.Out.WriteLineAsync(JsonSerializer.Serialize(value, type));
        return 0;
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    private static UsageException UnknownRun(string id) => new($"unknown run '{id}' (see `punkgrid runs`)");

    private static UsageException UnknownJob(string id) => new($"unknown job '{id}' (job ids look like RUN.trait, see `punkgrid jobs RUN`)");
}
