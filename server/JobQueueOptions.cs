using Microsoft.Extensions.Options;

namespace PunkGrid.Server;

/// <summary>
/// The job queue's settings — leases, failure budgets, quarantine — bound from <c>PunkGrid:Queue</c> (env
/// <c>PUNKGRID__Queue__…</c>; the keys read from <c>PunkGrid:Scheduling</c> before keep working for a release, with a warning).
/// </summary>
public sealed class JobQueueOptions
{
    public const string Section = "PunkGrid:Queue";

    /// <summary>A lease not renewed by a heartbeat within this time is lost and its job requeued (attempt + 1 on its next lease).</summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Attempts of a job that may end with its trainer failing (a retryable error) before the job is Failed. Lost leases do not count.</summary>
    public int MaxFailures { get; set; } = 3;

    /// <summary>
    /// Consecutive lost leases whose attempt saved no checkpoint before a job is quarantined (Failed): a job that keeps
    /// killing its worker before it gets anywhere must not take down worker after worker.
    /// </summary>
    public int QuarantineAfterCrashes { get; set; } = 3;

    /// <summary>
    /// Workers of different silos whose last heartbeats lie within this window of each other died together (a host, a rack,
    /// a network or every silo went down): such a death is the cluster's, and does not count towards any of their jobs'
    /// quarantine. Keep it above the workers' heartbeat interval (2 s) and well below the lease timeout.
    /// </summary>
    public TimeSpan SimultaneousDeathWindow { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How often each silo's lease keeper looks for expired leases (and ticks the lease clock).</summary>
    public TimeSpan ExpiryScanInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A lease-clock tick that finds the previous one older than this means nobody could reach the database (or every silo
    /// was down): leases are then extended by a full timeout instead of expired. Zero: the larger of 3 scan intervals and a
    /// quarter of the lease timeout.
    /// </summary>
    public TimeSpan OutageGap { get; set; }

    public TimeSpan EffectiveOutageGap => OutageGap > TimeSpan.Zero
        ? OutageGap
        : TimeSpan.FromTicks(Math.Max(ExpiryScanInterval.Ticks * 3, LeaseTimeout.Ticks / 4));

    /// <summary>Whether noop jobs may kill their worker (<c>fault=exit-process</c>). Only for the fault-injection tests and the chaos soak.</summary>
    public bool AllowFaultInjection { get; set; }

    /// <summary>Checked when the silo starts (<c>ValidateOnStart</c>): every failure names the setting and what is allowed.</summary>
    public sealed class Validator : IValidateOptions<JobQueueOptions>
    {
        public ValidateOptionsResult Validate(string? name, JobQueueOptions o)
        {
            var errors = new List<string>();
            if (o.LeaseTimeout < TimeSpan.FromSeconds(1))
            {
                errors.Add($"PunkGrid:Queue:LeaseTimeout {o.LeaseTimeout} is too short: at least 00:00:01");
            }
            if (o.MaxFailures < 1)
            {
                errors.Add($"PunkGrid:Queue:MaxFailures {o.MaxFailures} is not allowed: at least 1");
            }
            if (o.QuarantineAfterCrashes < 1)
            {
                errors.Add($"PunkGrid:Queue:QuarantineAfterCrashes {o.QuarantineAfterCrashes} is not allowed: at least 1");
            }
            if (o.SimultaneousDeathWindow < TimeSpan.Zero || o.SimultaneousDeathWindow * 2 > o.LeaseTimeout)
            {
                errors.Add($"PunkGrid:Queue:SimultaneousDeathWindow {o.SimultaneousDeathWindow} is not allowed: at least zero and at most half the LeaseTimeout ({o.LeaseTimeout})");
            }
            if (o.ExpiryScanInterval <= TimeSpan.Zero || o.ExpiryScanInterval >= o.LeaseTimeout)
            {
                errors.Add($"PunkGrid:Queue:ExpiryScanInterval {o.ExpiryScanInterval} is not allowed: above zero and below LeaseTimeout ({o.LeaseTimeout})");
            }
            if (o.OutageGap < TimeSpan.Zero || o.EffectiveOutageGap >= o.LeaseTimeout)
            {
                errors.Add($"PunkGrid:Queue:OutageGap {o.EffectiveOutageGap} is not allowed: at least zero and below LeaseTimeout ({o.LeaseTimeout})");
            }
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
