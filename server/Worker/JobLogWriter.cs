using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Worker;

/// <summary>
/// Writes what this silo's jobs say to their logs in PostgreSQL (<see cref="JobLogStore"/>): lines are held in memory and
/// written in batches every flush interval, so logging never waits for the database. Through an outage the lines wait
/// (up to <see cref="JobLogOptions.BufferLines"/>, then the oldest are dropped and counted) and are written when it
/// answers; a batch sent twice stores each line once. <see cref="FlushAsync"/> waits for what was said before it, so a
/// job's last words (the exception that failed it) are stored before its outcome is reported.
/// </summary>
public sealed partial class JobLogWriter(JobLogStore store, IOptions<JobLogOptions> options, ILogger<JobLogWriter> logger) : BackgroundService
{
    private const int BatchLines = 1_000;

    private readonly Lock gate = new();
    private readonly Queue<(long Sequence, JobLogEntry Entry)> pending = new();
    private long appended;
    private long settled;
    private long droppedInMemory;
    private readonly WakeSignal wake = new();
    private TaskCompletionSource progress = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public JobLogOptions Settings => options.Value;

    /// <summary>Lines dropped in memory because the database could not take them in time.</summary>
    public long DroppedInMemory => Interlocked.Read(ref droppedInMemory);

    /// <summary>Queues a line of a job's log (cut to the line length); never blocks on the database.</summary>
    public void Append(string jobId, int attempt, LogLevel level, string source, string message, bool saidByAttempt = true)
    {
        var max = options.Value.MaxLineLength;
        if (message.Length > max)
        {
            var keep = max - 40; // room for the note, which says exactly how much was cut
            message = string.Concat(message.AsSpan(0, keep), $"… [{message.Length - keep} more characters cut]");
        }
        var entry = new JobLogEntry(Guid.CreateVersion7(), jobId, attempt, DateTimeOffset.UtcNow, level.ToString(), source, message, saidByAttempt);
        lock (gate)
        {
            pending.Enqueue((++appended, entry));
            if (pending.Count > options.Value.BufferLines)
            {
                var (sequence, _) = pending.Dequeue();
                settled = Math.Max(settled, sequence);
                droppedInMemory++;
            }
        }
    }

    /// <summary>Waits until every line appended before this call is stored (or dropped), at most <paramref name="timeout"/>; false when it ran out.</summary>
    public async Task<bool> FlushAsync(TimeSpan timeout, CancellationToken cancellation = default)
    {
        long target;
        lock (gate)
        {
            target = appended;
        }
        wake.Set();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            Task next;
            lock (gate)
            {
                if (settled >= target)
                {
                    return true;
                }
                next = progress.Task;
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                return false;
            }
            try
            {
                await next.WaitAsync(left, cancellation);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var failures = 0;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await wake.WaitAsync(failures == 0 ? options.Value.FlushInterval : TimeSpan.FromSeconds(Math.Min(5, failures)), stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            wake.Reset(); // a flush asked for after this point wakes the next wait
            var error = await WritePendingAsync(stopping);
            if (error is null)
            {
                if (failures > 0)
                {
                    LogRecovered(logger, failures);
                }
                failures = 0;
            }
            else if (failures++ % 10 == 0)
            {
                LogWriteFailed(logger, PendingLines, error);
            }
        }
    }

    /// <summary>On shutdown, the lines of the jobs just stopped are written (a few seconds at most).</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await WritePendingAsync(timeout.Token);
    }

    private int PendingLines
    {
        get
        {
            lock (gate)
            {
                return pending.Count;
            }
        }
    }

    /// <summary>Writes what is pending, a batch at a time; why not, when the database did not take a batch (null: all written).</summary>
    private async Task<string?> WritePendingAsync(CancellationToken cancellation)
    {
        while (true)
        {
            List<(long Sequence, JobLogEntry Entry)> batch;
            lock (gate)
            {
                batch = pending.Take(BatchLines).ToList();
            }
            if (batch.Count == 0)
            {
                return null;
            }
            try
            {
                await store.WriteAsync(batch.Select(b => b.Entry).ToList(), options.Value.MaxLinesPerJob, cancellation);
            }
            catch (Exception ex) when (DatabaseRetry.IsTransient(ex) || ex is OperationCanceledException)
            {
                return ex.GetBaseException().Message;
            }
            catch (Exception ex)
            {
                // Not the database being away: the batch itself was refused. Retrying it would block every later line.
                LogBatchRefused(logger, batch.Count, ex);
            }
            lock (gate)
            {
                var last = batch[^1].Sequence;
                while (pending.TryPeek(out var head) && head.Sequence <= last)
                {
                    pending.Dequeue();
                }
                settled = Math.Max(settled, last);
                progress.TrySetResult();
                progress = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job logs: {Lines} line(s) wait for the database ({Error}); retrying")]
    private static partial void LogWriteFailed(ILogger logger, int lines, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job logs: the database takes lines again after {Failures} failed write(s)")]
    private static partial void LogRecovered(ILogger logger, int failures);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job logs: a batch of {Lines} line(s) was refused and is dropped")]
    private static partial void LogBatchRefused(ILogger logger, int lines, Exception exception);
}
