using Microsoft.Extensions.Options;

namespace PunkGrid.Server;

/// <summary>The worker role's settings, bound from <c>PunkGrid:Worker</c>.</summary>
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

    /// <summary>How often the worker renews its leases and reports progress.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The safety net behind the database's notifications: a worker with a free slot tries to lease at least this often,
    /// even if it was told of no new work.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Data folder; empty: <c>PUNKGRID_DATA</c>, <c>../shared/data</c>, <c>./data</c>.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>
    /// Where this worker keeps frozen backbones' activations between jobs (Pokémon trials with a frozen ImageNet backbone
    /// compute them once; every read verified). Empty: <c>punkgrid-activations</c> in the temporary folder; <c>off</c>: not kept.
    /// </summary>
    public string? ActivationCache { get; set; }

    /// <summary>The folder of <see cref="ActivationCache"/>, or null when it is off.</summary>
    public string? ActivationCacheDirectory => ActivationCache switch
    {
        null or "" => PunkGrid.Training.Data.ActivationCache.DefaultDirectory,
        "off" => null,
        var folder => folder,
    };

    public int EffectiveSlots => Slots > 0 ? Slots : Math.Max(1, Environment.ProcessorCount / 2);

    public sealed class Validator(IOptions<JobQueueOptions> scheduling) : IValidateOptions<WorkerOptions>
    {
        public ValidateOptionsResult Validate(string? name, WorkerOptions o)
        {
            var errors = new List<string>();
            if (o.Slots is < 0 or > 4096)
            {
                errors.Add($"PunkGrid:Worker:Slots {o.Slots} is not allowed: 0 (one per two cores) to 4096");
            }
            if (o.ThreadsPerJob is < 0 or > 1024)
            {
                errors.Add($"PunkGrid:Worker:ThreadsPerJob {o.ThreadsPerJob} is not allowed: 0 (cores / slots) to 1024");
            }
            var lease = scheduling.Value.LeaseTimeout;
            if (o.HeartbeatInterval <= TimeSpan.Zero || o.HeartbeatInterval * 3 > lease)
            {
                errors.Add($"PunkGrid:Worker:HeartbeatInterval {o.HeartbeatInterval} is not allowed: above zero and at most a third of the lease timeout ({lease})");
            }
            if (o.PollInterval <= TimeSpan.Zero)
            {
                errors.Add($"PunkGrid:Worker:PollInterval {o.PollInterval} is not allowed: above zero");
            }
            if (!System.Text.RegularExpressions.Regex.IsMatch(o.Device, "^(auto|cpu|cuda|cuda:[0-9]{1,2})$"))
            {
                errors.Add($"PunkGrid:Worker:Device '{o.Device}' is not allowed: auto, cpu, cuda or cuda:N");
            }
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
