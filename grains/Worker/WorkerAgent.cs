using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Grains.Jobs;
using PunkGrid.Grains.Persistence;
using PunkGrid.Grains.Telemetry;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Data;
using PunkGrid.Training.Native;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Grains.Worker;

/// <summary>
/// The worker role of a silo: registers its capacity, leases jobs from the scheduler, runs each trainer on a thread
/// of its own (never an Orleans scheduler thread), heartbeats progress, and stops jobs whose lease it lost.
/// </summary>
public sealed class WorkerAgent(
    IGrainFactory grains,
    TrainingOutputStore outputs,
    ILocalSiloDetails silo,
    IOptions<WorkerOptions> options,
    ILogger<WorkerAgent> logger) : BackgroundService
{
    private sealed record RunningJob(JobLease Lease, PostgresTrainingSink Sink, CancellationTokenSource Cancel, Thread Thread);

    private readonly ConcurrentDictionary<string, RunningJob> running = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim slotFreed = new(0);
    private WorkerRegistration? registration;
    private string device = "cpu";

    public IReadOnlyCollection<string> RunningJobIds => running.Keys.ToList();

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var settings = options.Value;
        TorchRuntime.EnsureInitialized(logger);
        device = TorchRuntime.ResolveDevice(settings.Device).ToString();
        registration = new WorkerRegistration($"{silo.Name}@{silo.SiloAddress.Endpoint}", silo.SiloAddress.ToString(), device,
            settings.EffectiveSlots, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024));
        logger.LogInformation("Worker {Worker}: device {Device}, {Slots} slot(s)", registration.WorkerId, device, registration.Slots);
        var scheduler = grains.GetGrain<ISchedulerGrain>(0);
        var nextHeartbeat = DateTime.UtcNow;

        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (DateTime.UtcNow >= nextHeartbeat)
                {
                    nextHeartbeat = DateTime.UtcNow + settings.HeartbeatInterval;
                    var reports = running.Values.Select(r =>
                    {
                        var p = r.Sink.LatestProgress;
                        if (p.SamplesPerSecond > 0)
                        {
                            PunkGridTelemetry.SamplesPerSecond.Record(p.SamplesPerSecond);
                        }
                        return new JobProgressReport(r.Lease.JobId, r.Lease.Attempt, p.Epoch, p.TotalEpochs, p.Step, p.TotalSteps, p.Fraction);
                    }).ToList();
                    var reply = await scheduler.Heartbeat(registration, reports);
                    foreach (var lost in reply.LostJobIds)
                    {
                        if (running.TryGetValue(lost, out var job))
                        {
                            logger.LogWarning("Job {Job} attempt {Attempt}: lease lost or job cancelled; stopping it", lost, job.Lease.Attempt);
                            await job.Cancel.CancelAsync();
                        }
                    }
                }
                var free = registration.Slots - running.Count;
                if (free > 0)
                {
                    foreach (var lease in await scheduler.Lease(registration, free))
                    {
                        Start(lease);
                    }
                }
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                logger.LogWarning("Worker loop: {Error}; retrying", ex.Message);
            }
            try
            {
                // Poll again after the interval, or at once when a job ends and frees its slot.
                await slotFreed.WaitAsync(settings.PollInterval, stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private void Start(JobLease lease)
    {
        var cancel = new CancellationTokenSource();
        var sink = new PostgresTrainingSink(outputs, lease.JobId, lease.Spec.Kind, lease.Attempt, cancel.Token);
        var thread = new Thread(() => Run(lease, sink, cancel)) { IsBackground = true, Name = $"job {lease.JobId}" };
        running[lease.JobId] = new RunningJob(lease, sink, cancel, thread);
        thread.Start();
    }

    /// <summary>Runs one leased job to its end on the calling (dedicated) thread and reports the outcome, fenced by its attempt.</summary>
    private void Run(JobLease lease, PostgresTrainingSink sink, CancellationTokenSource cancel)
    {
        var job = grains.GetGrain<IJobGrain>(lease.JobId);
        try
        {
            var settings = options.Value;
            TorchRuntime.SetThreadsForCurrentThread(settings.ThreadsPerJob > 0
                ? settings.ThreadsPerJob
                : Math.Max(1, Environment.ProcessorCount / settings.EffectiveSlots));
            var checkpoint = outputs.LatestCheckpointAsync(lease.JobId, cancel.Token).GetAwaiter().GetResult();
            logger.LogInformation("Job {Job} attempt {Attempt}: starting {From}", lease.JobId, lease.Attempt,
                checkpoint is null ? "from scratch" : $"from the checkpoint of epoch {checkpoint.Epoch}");
            var trainer = JobTrainerFactory.Create(lease.Spec, DataDirectory.Resolve(settings.DataDirectory));
            var result = trainer.Train(new TrainContext(sink, device, checkpoint, logger, cancel.Token));
            job.Succeed(lease.Attempt, result.EvaluationJson, result.Summary).GetAwaiter().GetResult();
            logger.LogInformation("Job {Job} attempt {Attempt} succeeded", lease.JobId, lease.Attempt);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            logger.LogInformation("Job {Job} attempt {Attempt} stopped", lease.JobId, lease.Attempt);
        }
        catch (StaleAttemptException ex)
        {
            logger.LogWarning("Job {Job}: {Message}; stopping", lease.JobId, ex.Message);
        }
        catch (Exception ex) when (ex is ArgumentException or DataFormatException or CheckpointFormatException)
        {
            Report(job, lease, $"{ex.GetType().Name}: {ex.Message}", retryable: false);
        }
        catch (Exception ex)
        {
            Report(job, lease, $"{ex.GetType().Name}: {ex.Message}", retryable: true);
        }
        finally
        {
            running.TryRemove(lease.JobId, out _);
            cancel.Dispose();
            slotFreed.Release();
        }
    }

    private void Report(IJobGrain job, JobLease lease, string error, bool retryable)
    {
        logger.LogError("Job {Job} attempt {Attempt} failed ({Kind}): {Error}", lease.JobId, lease.Attempt, retryable ? "retryable" : "final", error);
        try
        {
            job.Fail(lease.Attempt, error, retryable).GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            logger.LogError("Could not report the failure of {Job}: {Error} (its lease will expire)", lease.JobId, ex.Message);
        }
    }

    /// <summary>On shutdown, stops the running jobs (each has checkpointed its last epoch) and hands them back to the queue.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
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
                await grains.GetGrain<IJobGrain>(job.Lease.JobId).Fail(job.Lease.Attempt, "worker stopped", retryable: true);
            }
            catch (Exception ex)
            {
                logger.LogWarning("Could not hand {Job} back: {Error} (its lease will expire)", job.Lease.JobId, ex.Message);
            }
        }
        await base.StopAsync(cancellationToken);
    }
}
