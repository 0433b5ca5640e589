using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Telemetry;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Native;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Server.Worker;

/// <summary>
/// The worker role of a silo. It leases jobs from the queue in PostgreSQL whenever it has a free slot and the database
/// says work arrived (<see cref="QueueListener"/>), when one of its jobs ends, and at least every poll interval; runs each
/// trainer on a thread of its own (never an Orleans scheduler thread); heartbeats progress, which renews its leases; stops
/// jobs it no longer holds (cancelled, or leased to a newer attempt after its own lease was lost); and gives back jobs
/// the database says it holds but it does not run. Through a database outage it keeps training: writes and reports wait
/// and are retried until the database answers, and the lease keepers extend the leases the outage kept it from renewing.
/// </summary>
public sealed partial class WorkerAgent(
    JobQueue queue,
    CheckpointStore checkpoints,
    MetricStore metrics,
    ArtifactStore artifacts,
    JobLogWriter jobLogs,
    NpgsqlDataSource dataSource,
    ILocalSiloDetails silo,
    ISiloStatusOracle membership,
    IOptions<WorkerOptions> options,
    IOptions<JobQueueOptions> scheduling,
    ILogger<WorkerAgent> logger) : BackgroundService
{
    /// <summary>A job this worker runs; <see cref="Log"/> writes to the silo's log and to the job's own.</summary>
    private sealed record RunningJob(JobLease Lease, ILogger Log, PostgresTrainingSink Sink, CancellationTokenSource Cancel, Thread Thread);

    private readonly ConcurrentDictionary<string, RunningJob> running = new(StringComparer.Ordinal);
    private readonly WakeSignal wake = new();
    // One turn of the loop's database work (heartbeat, orphans, lease) at a time; a shutdown waits for the turn in flight.
    private readonly SemaphoreSlim turn = new(1, 1);
    // Set when the silo begins to stop: from then on the worker starts nothing (see StopAsync).
    private volatile bool handingBack;
    private WorkerRegistration? registration;
    private string device = "cpu";
    private CancellationToken stopping;

    public IReadOnlyCollection<string> RunningJobIds => running.Keys.ToList();

    private TimeSpan CallTimeout => TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(5).Ticks, options.Value.HeartbeatInterval.Ticks * 2));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        stopping = stoppingToken;
        var settings = options.Value;
        TorchRuntime.EnsureInitialized(logger);
        device = TorchRuntime.ResolveDevice(settings.Device).ToString();
        // One id per incarnation: name@address/generation. A later incarnation on the same address knows the earlier one is dead.
        var address = $"{silo.Name}@{silo.SiloAddress.Endpoint}/";
        registration = new WorkerRegistration($"{address}{silo.SiloAddress.Generation}", silo.SiloAddress.ToString(), device,
            settings.EffectiveSlots, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024));
        LogStarted(logger, registration.WorkerId, device, registration.Slots);
        await DatabaseRetry.RunAsync(async c =>
        {
            foreach (var lost in await queue.LoseLeasesOfEarlierIncarnationsAsync(registration.WorkerId, address, c))
            {
                LogTakenOver(JobLog(lost.JobId, lost.Attempt), lost.JobId, lost.Attempt, lost.WorkerId ?? "?", lost.State);
                Telemetry(lost);
            }
        }, logger, "taking over from earlier incarnations of this worker", stoppingToken);
        var listener = new QueueListener(dataSource, logger).RunAsync(wake.Set, CancelRunning, stoppingToken);

        var nextHeartbeat = DateTime.UtcNow;
        var failing = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            wake.Reset();
            await turn.WaitAsync(CancellationToken.None);
            try
            {
                if (DateTime.UtcNow >= nextHeartbeat)
                {
                    nextHeartbeat = DateTime.UtcNow + settings.HeartbeatInterval;
                    await HeartbeatAsync(registration, stoppingToken);
                }
                var free = registration.Slots - running.Count;
                // Only an active member of the cluster takes new work (not while joining, shutting down, or declared dead),
                // and never once this worker has begun to hand its jobs back.
                if (free > 0 && !handingBack && membership.CurrentStatus == SiloStatus.Active)
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    timeout.CancelAfter(CallTimeout);
                    foreach (var lease in await queue.LeaseAsync(registration, free, timeout.Token))
                    {
                        Start(lease);
                    }
                }
                if (failing > 0)
                {
                    LogLoopRecovered(logger, failing);
                }
                failing = 0;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // The database is down or slow: keep training; try again at the next turn.
                if (failing++ % 10 == 0)
                {
                    LogLoopFailed(logger, ex.GetBaseException().Message);
                }
            }
            finally
            {
                turn.Release();
            }
            var untilHeartbeat = nextHeartbeat - DateTime.UtcNow;
            var wait = untilHeartbeat < settings.PollInterval ? untilHeartbeat : settings.PollInterval;
            try
            {
                await wake.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await listener;
    }

    /// <summary>Renews the leases of the running jobs, stops those it lost, and gives back the ones it holds without running them.</summary>
    private async Task HeartbeatAsync(WorkerRegistration worker, CancellationToken cancellation)
    {
        var reports = running.Values.Select(r =>
        {
            var p = r.Sink.LatestProgress;
            return new JobProgressReport(r.Lease.JobId, r.Lease.Attempt, p.Epoch, p.TotalEpochs, p.Step, p.TotalSteps, p.Fraction);
        }).ToList();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(CallTimeout);
        var result = await queue.HeartbeatAsync(worker, reports, timeout.Token);
        foreach (var lost in result.Lost)
        {
            if (running.TryGetValue(lost, out var job) && !job.Cancel.IsCancellationRequested)
            {
                LogLeaseLost(job.Log, lost, job.Lease.Attempt);
                await job.Cancel.CancelAsync();
            }
        }
        if (result.Orphans.Count > 0 && !handingBack)
        {
            // Leases granted to this worker by a call whose answer never arrived: run them if there is room, else hand them back.
            var free = worker.Slots - running.Count;
            var claim = result.Orphans.Take(Math.Max(0, free)).ToList();
            foreach (var lease in await queue.ClaimOrphansAsync(worker, claim, timeout.Token))
            {
                LogClaimed(JobLog(lease.JobId, lease.Attempt), lease.JobId, lease.Attempt);
                Start(lease);
            }
            foreach (var (jobId, attempt) in result.Orphans.Skip(claim.Count))
            {
                await queue.ReleaseAsync(jobId, attempt, "handed back: leased to a worker without a free slot", timeout.Token);
            }
        }
    }

    /// <summary>The database said a running job was cancelled: stop it now rather than at the next heartbeat.</summary>
    private void CancelRunning(string jobId)
    {
        if (running.TryGetValue(jobId, out var job) && !job.Cancel.IsCancellationRequested)
        {
            LogCancelled(job.Log, jobId, job.Lease.Attempt);
            job.Cancel.Cancel();
        }
    }

    private void Start(JobLease lease)
    {
        using (var activity = PunkGridTelemetry.Source.StartActivity("lease"))
        {
            activity?.SetTag("punkgrid.job_id", lease.JobId).SetTag("punkgrid.worker_id", registration!.WorkerId).SetTag("punkgrid.attempt", lease.Attempt);
        }
        PunkGridTelemetry.JobsLeased.Add(1);
        var log = JobLog(lease.JobId, lease.Attempt);
        LogLeased(log, lease.JobId, lease.Attempt, registration!.WorkerId);
        var cancel = new CancellationTokenSource();
        var sink = new PostgresTrainingSink(checkpoints, metrics, artifacts, lease.JobId, lease.Spec.Kind, lease.Attempt, log, cancel.Token);
        var job = new RunningJob(lease, log, sink, cancel, new Thread(() => Run(lease, log, sink, cancel)) { IsBackground = true, Name = $"job {lease.JobId}" });
        running[lease.JobId] = job;
        job.Thread.Start();
    }

    /// <summary>What this worker says about one attempt of a job: to the silo's log and the job's own.</summary>
    private JobLogger JobLog(string jobId, int attempt, string source = "worker") => new(logger, jobLogs, jobId, attempt, source);

    /// <summary>
    /// Runs one leased job to its end on the calling (dedicated) thread and reports the outcome, fenced by its attempt. The
    /// job's log is flushed before the outcome is reported, so its last lines (the exception of a failure) are stored first.
    /// </summary>
    private void Run(JobLease lease, ILogger log, PostgresTrainingSink sink, CancellationTokenSource cancel)
    {
        try
        {
            var settings = options.Value;
            TorchRuntime.SetThreadsForCurrentThread(settings.ThreadsPerJob > 0
                ? settings.ThreadsPerJob
                : Math.Max(1, Environment.ProcessorCount / settings.EffectiveSlots));
            // A first attempt has nothing to resume from: only a leased attempt writes checkpoints.
            var checkpoint = lease.Attempt == 1 ? null : DatabaseRetry.RunAsync(c => checkpoints.LatestAsync(lease.JobId, c), log,
                $"latest checkpoint of {lease.JobId}", cancel.Token).GetAwaiter().GetResult();
            LogStarting(log, lease.JobId, lease.Attempt, checkpoint is null
                ? "from scratch"
                : $"from the checkpoint of epoch {checkpoint.Epoch} (step {checkpoint.Step})", device);
            var trainer = JobTrainerFactory.Create(lease.Spec, DataDirectory.Resolve(settings.DataDirectory), scheduling.Value.AllowFaultInjection, settings.ActivationCacheDirectory);
            var result = trainer.Train(new TrainContext(sink, device, checkpoint, JobLog(lease.JobId, lease.Attempt, "trainer"), cancel.Token));
            var final = sink.LatestProgress;
            LogTrained(log, lease.JobId, lease.Attempt, final.Epoch, final.TotalEpochs,
                string.Join(", ", result.Summary.Select(m => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{m.Key} {m.Value:G4}"))));
            FlushLog(lease);
            // Retried until the database answers: an outage must not turn a finished job into a lost one.
            var outcome = DatabaseRetry.RunAsync(c => queue.SucceedAsync(lease.JobId, lease.Attempt, result.EvaluationJson, result.Summary, final.TotalEpochs, final.TotalSteps, c),
                logger, $"success of {lease.JobId}", stopping).GetAwaiter().GetResult();
            if (outcome == JobQueue.ReportOutcome.Stale)
            {
                LogStaleSuccess(log, lease.JobId, lease.Attempt);
            }
            else
            {
                PunkGridTelemetry.JobsFinished.Add(1, new KeyValuePair<string, object?>("state", nameof(JobState.Succeeded)));
                LogSucceeded(log, lease.JobId, lease.Attempt);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested || stopping.IsCancellationRequested)
        {
            LogStopped(log, lease.JobId, lease.Attempt);
        }
        catch (StaleAttemptException ex)
        {
            LogStale(log, lease.JobId, ex.Message);
        }
        catch (Exception ex) when (ex is ArgumentException or DataFormatException or CheckpointFormatException)
        {
            Report(lease, log, ex, retryable: false);
        }
        catch (Exception ex)
        {
            Report(lease, log, ex, retryable: true);
        }
        finally
        {
            running.TryRemove(lease.JobId, out _);
            // The tuned heap keeps what a job freed (see NativeMemoryTuning); an idle slot should not hold a job's peak.
            NativeMemoryTuning.ReleaseFreeMemory();
            // Not disposed: the heartbeat, the cancel listener or a shutdown may still cancel it while the job ends (a
            // disposed source throws there). It has no timer, so nothing is left behind once it is collected.
            wake.Set();
        }
    }

    /// <summary>Waits (a few seconds at most, never past the silo's shutdown) until the job's log lines so far are stored; never throws.</summary>
    private void FlushLog(JobLease lease)
    {
        bool stored;
        try
        {
            stored = jobLogs.FlushAsync(TimeSpan.FromSeconds(5), stopping).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            stored = false; // the silo stops: the writer's own shutdown writes what is left
        }
        if (!stored)
        {
            LogLogFlushLate(logger, lease.JobId, lease.Attempt);
        }
    }

    private void Report(JobLease lease, ILogger log, Exception exception, bool retryable)
    {
        var error = $"{exception.GetType().Name}: {exception.Message}";
        LogFailed(log, lease.JobId, lease.Attempt, retryable ? "retryable" : "final", error, exception);
        FlushLog(lease);
        try
        {
            using var activity = retryable ? PunkGridTelemetry.Source.StartActivity("requeue") : null;
            activity?.SetTag("punkgrid.job_id", lease.JobId).SetTag("punkgrid.attempt", lease.Attempt).SetTag("punkgrid.reason", error);
            var state = DatabaseRetry.RunAsync(c => queue.FailAsync(lease.JobId, lease.Attempt, error, retryable, c), logger, $"failure of {lease.JobId}", stopping)
                .GetAwaiter().GetResult();
            activity?.SetTag("punkgrid.state", state?.ToString() ?? "unchanged");
            if (state == JobState.Failed)
            {
                PunkGridTelemetry.JobsFinished.Add(1, new KeyValuePair<string, object?>("state", nameof(JobState.Failed)));
            }
        }
        catch (Exception ex)
        {
            LogReportLost(log, lease.JobId, ex.Message);
        }
    }

    /// <summary>A lease this worker lost (or gave back), as traced and counted.</summary>
    internal static void Telemetry(JobQueue.LostLease lost)
    {
        using var activity = PunkGridTelemetry.Source.StartActivity("requeue");
        activity?.SetTag("punkgrid.job_id", lost.JobId).SetTag("punkgrid.attempt", lost.Attempt).SetTag("punkgrid.reason", lost.Reason)
            .SetTag("punkgrid.state", lost.State.ToString());
        PunkGridTelemetry.LeaseExpirations.Add(1);
        if (lost.State == JobState.Failed)
        {
            PunkGridTelemetry.JobsFinished.Add(1, new KeyValuePair<string, object?>("state", nameof(JobState.Failed)));
        }
    }

    /// <summary>
    /// On shutdown, stops the running jobs (each has checkpointed its last epoch) and hands them back to the queue, counting
    /// nothing against them. The worker first stops starting jobs and waits for a lease or orphan claim in flight to end,
    /// so that it neither leases a job it has just handed back (each hand-back frees a slot and wakes the loop) nor leaves
    /// behind a job leased while it was stopping.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        handingBack = true;
        try
        {
            await turn.WaitAsync(cancellationToken);
            turn.Release();
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout: hand back what is known to run.
        }
        var jobs = running.Values.ToList();
        foreach (var job in jobs)
        {
            await job.Cancel.CancelAsync();
        }
        foreach (var job in jobs)
        {
            job.Thread.Join(TimeSpan.FromSeconds(10));
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await DatabaseRetry.RunAsync(c => queue.ReleaseAsync(job.Lease.JobId, job.Lease.Attempt, "worker stopped: handed back", c),
                    logger, $"hand-back of {job.Lease.JobId}", timeout.Token);
            }
            catch (Exception ex)
            {
                LogHandBackFailed(job.Log, job.Lease.JobId, ex.Message);
            }
        }
        await base.StopAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Worker}: device {Device}, {Slots} slot(s)")]
    private static partial void LogStarted(ILogger logger, string worker, string device, int slots);

    [LoggerMessage(Level = LogLevel.Information, Message = "Leased {Job} (attempt {Attempt}) to worker {Worker}")]
    private static partial void LogLeased(ILogger logger, string job, int attempt, string worker);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {Job} attempt {Attempt}: starting {From} on {Device}")]
    private static partial void LogStarting(ILogger logger, string job, int attempt, string from, string device);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {Job} attempt {Attempt}: trained to epoch {Epoch} of {Epochs}; summary {Summary}")]
    private static partial void LogTrained(ILogger logger, string job, int attempt, int epoch, int epochs, string summary);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} attempt {Attempt}: its log lines could not all be stored before its outcome (they follow when the database takes them)")]
    private static partial void LogLogFlushLate(ILogger logger, string job, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {Job} attempt {Attempt} succeeded")]
    private static partial void LogSucceeded(ILogger logger, string job, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} attempt {Attempt}: finished, but the attempt no longer held the job; its success was not recorded")]
    private static partial void LogStaleSuccess(ILogger logger, string job, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {Job} attempt {Attempt} stopped")]
    private static partial void LogStopped(ILogger logger, string job, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job}: {Message}; stopping")]
    private static partial void LogStale(ILogger logger, string job, string message);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {Job} attempt {Attempt} failed ({Kind}): {Error}")]
    private static partial void LogFailed(ILogger logger, string job, int attempt, string kind, string error, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not report the failure of {Job}: {Error} (its lease will expire)")]
    private static partial void LogReportLost(ILogger logger, string job, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} attempt {Attempt}: lease lost or job cancelled; stopping it")]
    private static partial void LogLeaseLost(ILogger logger, string job, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {Job} attempt {Attempt} was cancelled; stopping it")]
    private static partial void LogCancelled(ILogger logger, string job, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} attempt {Attempt} was leased to this worker by a call whose answer was lost; running it")]
    private static partial void LogClaimed(ILogger logger, string job, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} attempt {Attempt} ran on {Earlier}, an earlier incarnation of this worker: lease lost → {State}")]
    private static partial void LogTakenOver(ILogger logger, string job, int attempt, string earlier, JobState state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker loop: {Error}; training goes on, retrying")]
    private static partial void LogLoopFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker loop: the database answers again after {Turns} failed turn(s)")]
    private static partial void LogLoopRecovered(ILogger logger, int turns);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not hand {Job} back: {Error} (its lease will expire)")]
    private static partial void LogHandBackFailed(ILogger logger, string job, string error);
}
