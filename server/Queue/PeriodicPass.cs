using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace PunkGrid.Server.Queue;

/// <summary>
/// A silo's background loop of passes: one when the silo starts, then one every <see cref="Interval"/> until it stops.
/// A pass that throws does not end the loop: the first failure in a row and every 30th after it are logged (a database
/// that is down for minutes does not flood the log), and the first pass that works again says how many failed.
/// </summary>
public abstract partial class PeriodicPass(ILogger logger) : BackgroundService
{
    private const int LogEveryNthFailure = 30;

    /// <summary>The time between the starts of two passes.</summary>
    protected abstract TimeSpan Interval { get; }

    /// <summary>What the pass does, for the log ("Lease keeper", …).</summary>
    protected abstract string Name { get; }

    protected abstract Task RunPassAsync(CancellationToken stopping);

    protected sealed override async Task ExecuteAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(Interval);
        var failing = 0;
        do
        {
            try
            {
                await RunPassAsync(stopping);
                if (failing > 0)
                {
                    LogRecovered(logger, Name, failing);
                    failing = 0;
                }
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                if (failing++ % LogEveryNthFailure == 0)
                {
                    LogFailed(logger, Name, ex.GetBaseException().Message);
                }
            }
        }
        while (await WaitAsync(timer, stopping));
    }

    /// <summary>Waits for the next tick; false once the silo is stopping.</summary>
    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stopping)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Pass}: {Error}; retrying every pass")]
    private static partial void LogFailed(ILogger logger, string pass, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Pass}: the database answers again after {Passes} failed pass(es)")]
    private static partial void LogRecovered(ILogger logger, string pass, int passes);
}
