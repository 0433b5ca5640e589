using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Grains;

/// <summary>
/// What a call to PunkGrid's grains (every one a facade over the database) does when the database does not answer. A call
/// whose connection could not be opened — no server reachable, or none read-write yet while a standby is promoted — did
/// nothing, so it is run again for a few seconds: a CLI command right after a failover answers instead of failing. Any
/// other database failure, and one that outlasts the wait, reaches the caller as a <see cref="DatabaseUnavailableException"/>
/// (transient) or an <see cref="InvalidOperationException"/> naming the error: Npgsql's exceptions cannot cross to a client.
/// </summary>
public sealed partial class DatabaseOutageFilter(ILogger<DatabaseOutageFilter> logger) : IIncomingGrainCallFilter
{
    /// <summary>How long a call waits for the database to take connections again: well inside a client's response timeout (30 s).</summary>
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static readonly System.Reflection.Assembly Surface = typeof(IRunGrain).Assembly;

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.DeclaringType?.Assembly != Surface)
        {
            await context.Invoke(); // Orleans' own calls (a watch's stream steps among them) pass as they are
            return;
        }
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(200);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await context.Invoke();
                if (attempt > 1)
                {
                    LogAnswered(logger, context.InterfaceMethod.Name, attempt, clock.Elapsed.TotalSeconds);
                }
                return;
            }
            catch (Exception ex) when (DatabaseRetry.NotConnected(ex) && clock.Elapsed + delay < Wait)
            {
                await Task.Delay(delay);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
            catch (Exception ex) when (DatabaseRetry.IsTransient(ex))
            {
                throw Unavailable(ex);
            }
            catch (NpgsqlException ex)
            {
                LogDatabaseError(logger, context.InterfaceMethod.Name, ex);
                throw new InvalidOperationException($"the database refused {context.InterfaceMethod.Name}: {ex.Message}");
            }
        }
    }

    /// <summary>What a caller is told when the database did not answer its call: the one message for every grain's answer.</summary>
    public static DatabaseUnavailableException Unavailable(Exception cause) =>
        new($"the cluster's database did not answer ({cause.GetBaseException().Message}); nothing was stored — try again when it is back");

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} answered after {Attempts} tries ({Seconds:F1} s): the database takes connections again")]
    private static partial void LogAnswered(ILogger logger, string method, int attempts, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method}: the database refused the call")]
    private static partial void LogDatabaseError(ILogger logger, string method, Exception exception);
}
