using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace PunkGrid.Server.Storage;

/// <summary>
/// Rides out database outages: a call that fails because PostgreSQL is down, restarting, paused past a command
/// timeout, out of connections, or failing over to a standby (no read-write host yet, or a server that became read-only)
/// is tried again (backing off to every 5 s) until the database answers or the caller
/// gives up. Everything retried this way must be idempotent: fenced transitions, upserts, inserts that ignore a row
/// already there.
/// </summary>
public static partial class DatabaseRetry
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    /// <summary>Whether <paramref name="exception"/> says the database could not be reached or answer, rather than that the call was wrong.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        PostgresException pg => pg.IsTransient || pg.SqlState.StartsWith("08", StringComparison.Ordinal)
            || pg.SqlState is PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown or PostgresErrorCodes.CannotConnectNow
            or "25P03" or PostgresErrorCodes.ReadOnlySqlTransaction,
        NpgsqlException npgsql => npgsql.IsTransient || (npgsql.InnerException is { } inner && IsTransient(inner)) || NoHostYet(npgsql),
        TimeoutException or SocketException or IOException or EndOfStreamException => true,
        _ => exception.InnerException is { } cause && IsTransient(cause),
    };

    /// <summary>
    /// Npgsql's answer, with no inner exception, when a connection string names several hosts and none is usable now:
    /// each was recently found down or of the wrong kind (a standby, where the target is read-write) and is not tried
    /// again until its state expires (<c>Host Recheck Seconds</c>). During a failover it lasts until the standby is promoted
    /// and rechecked. Npgsql gives it no error code; its message is the only mark.
    /// </summary>
    private static bool NoHostYet(NpgsqlException exception) =>
        exception is not PostgresException && exception.InnerException is null
        && exception.Message.StartsWith("No suitable host was found", StringComparison.Ordinal);

    /// <summary>
    /// Whether <paramref name="exception"/> says no connection could be opened, so the call it ended did not reach the
    /// database: no server reachable, none read-write (a failover under way), or one refusing connections while it starts.
    /// </summary>
    public static bool NotConnected(Exception exception) => exception switch
    {
        PostgresException pg => pg.SqlState == PostgresErrorCodes.CannotConnectNow,
        NpgsqlException npgsql => NoHostYet(npgsql)
            || npgsql.Message.StartsWith("Unable to connect to a suitable host", StringComparison.Ordinal)
            || npgsql.Message.StartsWith("Failed to connect to", StringComparison.Ordinal),
        _ => false,
    };

    /// <summary>Runs <paramref name="action"/> until it completes, retrying transient failures; other exceptions and cancellation pass through.</summary>
    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> action, ILogger logger, string what, CancellationToken cancellation)
    {
        var delay = FirstDelay;
        var started = DateTime.UtcNow;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var result = await action(cancellation);
                if (attempt > 1)
                {
                    LogRecovered(logger, what, attempt, (DateTime.UtcNow - started).TotalSeconds);
                }
                return result;
            }
            catch (Exception ex) when (IsTransient(ex) && !cancellation.IsCancellationRequested)
            {
                if (attempt == 1 || attempt % 10 == 0)
                {
                    LogRetrying(logger, what, attempt, ex.GetBaseException().Message);
                }
                await Task.Delay(delay, cancellation);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxDelay.Ticks));
            }
        }
    }

    public static Task RunAsync(Func<CancellationToken, Task> action, ILogger logger, string what, CancellationToken cancellation) =>
        RunAsync(async c =>
        {
            await action(c);
            return true;
        }, logger, what, cancellation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Database unavailable for {What} (try {Attempt}): {Error}; retrying")]
    private static partial void LogRetrying(ILogger logger, string what, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Database answered {What} again after {Attempts} tries ({Seconds:F1}s)")]
    private static partial void LogRecovered(ILogger logger, string what, int attempts, double seconds);
}
