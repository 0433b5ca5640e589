using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Grains.Persistence;
using PunkGrid.Grains.Telemetry;

namespace PunkGrid.Grains.Jobs;

/// <summary>
/// The cluster's scheduler: a priority queue of queued jobs (higher priority first, then oldest) and the table of
/// leases. Rebuilt from <c>jobs</c> whenever it activates (for instance on another silo after its own died), so it
/// holds nothing the database does not. Leases not renewed by heartbeats within the lease timeout are lost: the job
/// is requeued with attempt + 1 (or fails once its attempts are spent). A reminder keeps it active.
/// </summary>
public sealed class SchedulerGrain(JobStore store, IOptions<SchedulingOptions> options, ILogger<SchedulerGrain> logger)
    : Grain, ISchedulerGrain, IRemindable
{
    private sealed record HeldLease(string WorkerId, int Attempt, DateTimeOffset ExpiresAt);

    private static readonly Comparer<QueuedJob> Order = Comparer<QueuedJob>.Create((a, b) =>
    {
        var byPriority = b.Priority.CompareTo(a.Priority);
        if (byPriority != 0)
        {
            return byPriority;
        }
        var byAge = a.CreatedAt.CompareTo(b.CreatedAt);
        return byAge != 0 ? byAge : string.CompareOrdinal(a.JobId, b.JobId);
    });

    private readonly SortedSet<QueuedJob> queue = new(Order);
    private readonly Dictionary<string, QueuedJob> queued = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HeldLease> leases = new(StringComparer.Ordinal);

    private TimeSpan LeaseTimeout => options.Value.LeaseTimeout;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var job in await store.QueuedJobsAsync(cancellation: cancellationToken))
        {
            Add(job);
        }
        // Running jobs keep their leases, with at least one full timeout of grace for their workers to heartbeat.
        var grace = DateTimeOffset.UtcNow + LeaseTimeout;
        foreach (var running in await store.RunningLeasesAsync(cancellationToken))
        {
            leases[running.JobId] = new HeldLease(running.WorkerId, running.Attempt, running.ExpiresAt > grace ? running.ExpiresAt : grace);
        }
        this.RegisterGrainTimer(ExpireLeasesAsync, new GrainTimerCreationOptions(options.Value.ExpiryScanInterval, options.Value.ExpiryScanInterval));
        await this.RegisterOrUpdateReminder("keep-alive", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        logger.LogInformation("Scheduler activated: {Queued} queued, {Running} running", queue.Count, leases.Count);
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Task.CompletedTask;

    private void Add(QueuedJob job)
    {
        if (queued.TryAdd(job.JobId, job))
        {
            queue.Add(job);
        }
    }

    public Task Enqueue(IReadOnlyList<QueuedJob> jobs)
    {
        foreach (var job in jobs)
        {
            leases.Remove(job.JobId);
            Add(job);
        }
        return Task.CompletedTask;
    }

    public Task Released(string jobId)
    {
        leases.Remove(jobId);
        if (queued.Remove(jobId, out var job))
        {
            queue.Remove(job);
        }
        return Task.CompletedTask;
    }

    public Task<int> GetQueueDepth() => Task.FromResult(queue.Count);

    public Task Ping() => Task.CompletedTask;

    private static bool Fits(QueuedJob job, WorkerRegistration worker) => job.DeviceRequirement switch
    {
        "any" => true,
        "cuda" => worker.Device.StartsWith("cuda", StringComparison.Ordinal),
        _ => string.Equals(job.DeviceRequirement, worker.Device, StringComparison.Ordinal),
    };

    public async Task<IReadOnlyList<JobLease>> Lease(WorkerRegistration worker, int freeSlots)
    {
        var granted = new List<JobLease>();
        foreach (var candidate in queue.Where(j => Fits(j, worker)).Take(Math.Max(0, freeSlots)).ToList())
        {
            queue.Remove(candidate);
            queued.Remove(candidate.JobId);
            using var activity = PunkGridTelemetry.Source.StartActivity("lease");
            activity?.SetTag("punkgrid.job_id", candidate.JobId).SetTag("punkgrid.worker_id", worker.WorkerId);
            var lease = await GrainFactory.GetGrain<IJobGrain>(candidate.JobId).Start(worker.WorkerId);
            if (lease is null)
            {
                continue; // cancelled or already running elsewhere: the database said no
            }
            leases[lease.JobId] = new HeldLease(worker.WorkerId, lease.Attempt, DateTimeOffset.UtcNow + LeaseTimeout);
            granted.Add(lease);
            activity?.SetTag("punkgrid.attempt", lease.Attempt);
            PunkGridTelemetry.JobsLeased.Add(1);
            logger.LogInformation("Leased {Job} (attempt {Attempt}) to {Worker}", lease.JobId, lease.Attempt, worker.WorkerId);
        }
        return granted;
    }

    public async Task<HeartbeatReply> Heartbeat(WorkerRegistration worker, IReadOnlyList<JobProgressReport> progress)
    {
        var now = DateTimeOffset.UtcNow;
        var lost = new List<string>();
        var held = new List<JobProgressReport>();
        foreach (var report in progress)
        {
            if (leases.TryGetValue(report.JobId, out var lease) && lease.WorkerId == worker.WorkerId && lease.Attempt == report.Attempt)
            {
                leases[report.JobId] = lease with { ExpiresAt = now + LeaseTimeout };
                held.Add(report);
            }
            else
            {
                lost.Add(report.JobId);
            }
        }
        await store.RecordHeartbeatAsync(worker, held, LeaseTimeout);
        return new HeartbeatReply(lost);
    }

    private async Task ExpireLeasesAsync(CancellationToken cancellation)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var (jobId, lease) in leases.Where(l => l.Value.ExpiresAt < now).ToList())
        {
            leases.Remove(jobId);
            PunkGridTelemetry.LeaseExpirations.Add(1);
            var reason = $"lease expired: worker {lease.WorkerId} sent no heartbeat for {LeaseTimeout.TotalSeconds:F0}s";
            var state = await GrainFactory.GetGrain<IJobGrain>(jobId).LoseLease(lease.Attempt, reason);
            logger.LogWarning("Job {Job} attempt {Attempt}: {Reason} → {State}", jobId, lease.Attempt, reason, state?.ToString() ?? "unchanged");
        }
    }
}
