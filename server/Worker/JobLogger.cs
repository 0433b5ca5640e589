using Microsoft.Extensions.Logging;

namespace PunkGrid.Server.Worker;

/// <summary>
/// The logger a running job's trainer and worker code are given: every line goes to the silo's own log as before, and the
/// lines at or above the job logs' minimum level also to the job's log in PostgreSQL (through <see cref="JobLogWriter"/>),
/// under the job, its attempt and <paramref name="source"/> (<c>worker</c> or <c>trainer</c>; <c>queue</c> for what a lease
/// keeper says about an attempt, <paramref name="saidByAttempt"/> false: such a line is never superseded). An exception is
/// stored whole, with its stack.
/// </summary>
public sealed class JobLogger(ILogger silo, JobLogWriter writer, string jobId, int attempt, string source, bool saidByAttempt = true) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => silo.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && (silo.IsEnabled(logLevel) || logLevel >= writer.Settings.MinimumLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (silo.IsEnabled(logLevel))
        {
            silo.Log(logLevel, eventId, state, exception, formatter);
        }
        if (logLevel != LogLevel.None && logLevel >= writer.Settings.MinimumLevel)
        {
            var message = formatter(state, exception);
            writer.Append(jobId, attempt, logLevel, source, exception is null ? message : $"{message}{Environment.NewLine}{exception}", saidByAttempt);
        }
    }
}
