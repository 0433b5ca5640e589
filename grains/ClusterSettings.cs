namespace PunkGrid.Grains;

/// <summary>Scheduling and worker settings, bound from configuration section <c>PunkGrid</c> (env <c>PUNKGRID__…</c>).</summary>
public sealed class SchedulingOptions
{
    /// <summary>A lease not renewed by a heartbeat within this time is lost and its job requeued with attempt + 1.</summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Attempts a job gets (lost leases and retryable failures count) before it is Failed.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>How often the scheduler looks for expired leases.</summary>
    public TimeSpan ExpiryScanInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often each schedule's reminder wakes it to check whether a firing is due (the cron's resolution).</summary>
    public TimeSpan ScheduleTick { get; set; } = TimeSpan.FromMinutes(1);
}

public sealed class WorkerOptions
{
    /// <summary>Whether this silo runs jobs (the worker role).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Jobs run at once. 0: one per two cores, at least one.</summary>
    public int Slots { get; set; }

    /// <summary><c>auto</c> (cuda when available, else cpu), <c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>.</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Torch intra-op threads per job. 0: cores / slots.</summary>
    public int ThreadsPerJob { get; set; }

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Data folder; empty: <c>PUNKGRID_DATA</c>, <c>../shared/data</c>, <c>./data</c>.</summary>
    public string? DataDirectory { get; set; }

    public int EffectiveSlots => Slots > 0 ? Slots : Math.Max(1, Environment.ProcessorCount / 2);
}
