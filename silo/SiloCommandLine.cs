using Microsoft.Extensions.Logging;

namespace PunkGrid.Silo;

/// <summary>The silo executable's command line: the root command and its verbs, one file each in <c>Commands/</c> (`silo --help` lists them).</summary>
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
        root.Subcommands.Add(ReportCommand(stdout, stderr));
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

    private static readonly Option<string?> PostgresOption = new("--postgres") { Description = "PostgreSQL connection string (default: PunkGrid:Postgres, PUNKGRID__Postgres)." };
}
