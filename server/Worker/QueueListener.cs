using Microsoft.Extensions.Logging;
using Npgsql;

namespace PunkGrid.Server.Worker;

/// <summary>
/// Holds one connection that <c>LISTEN</c>s for the database's notifications: <c>punkgrid_queue</c> when a job becomes
/// Queued (submitted, requeued, retried) and <c>punkgrid_cancel</c> when a running job is cancelled. Both are sent by
/// triggers on <c>jobs</c>, on commit, so whatever queued the job, the workers hear of it. When the connection is lost
/// (the database restarted, the network failed) it reconnects with back-off and then reports work queued, since it may
/// have missed notifications meanwhile. Notifications only wake the worker sooner: its lease poll is the safety net.
/// </summary>
public sealed partial class QueueListener(NpgsqlDataSource dataSource, ILogger logger)
{
    public const string QueueChannel = "punkgrid_queue";
    public const string CancelChannel = "punkgrid_cancel";

    private static readonly TimeSpan QuietCheck = TimeSpan.FromSeconds(15);

    public async Task RunAsync(Action onQueued, Action<string> onCancelled, CancellationToken stopping)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stopping);
                connection.Notification += (_, e) =>
                {
                    if (e.Channel == CancelChannel)
                    {
                        onCancelled(e.Payload);
                    }
                    else
                    {
                        onQueued();
                    }
                };
                await using (var listen = new NpgsqlCommand($"listen {QueueChannel}; listen {CancelChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stopping);
                }
                if (failures > 0)
                {
                    LogListening(logger, failures);
                }
                (delay, failures) = (TimeSpan.FromMilliseconds(200), 0);
                onQueued(); // anything queued while nobody listened
                while (true)
                {
                    if (!await connection.WaitAsync(QuietCheck, stopping))
                    {
                        // Quiet for a while: make sure the connection still leads somewhere.
                        await using var ping = new NpgsqlCommand("select 1", connection) { CommandTimeout = 5 };
                        await ping.ExecuteScalarAsync(stopping);
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                if (failures++ % 10 == 0)
                {
                    LogLost(logger, ex.GetBaseException().Message, delay.TotalSeconds);
                }
                try
                {
                    await Task.Delay(delay, stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Queue notifications interrupted ({Error}); reconnecting in {Seconds:F1}s (the lease poll goes on meanwhile)")]
    private static partial void LogLost(ILogger logger, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for queue notifications again after {Failures} failed tries")]
    private static partial void LogListening(ILogger logger, int failures);
}
