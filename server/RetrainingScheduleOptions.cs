using Microsoft.Extensions.Options;

namespace PunkGrid.Server;

/// <summary>
/// Scheduled retraining's settings, bound from <c>PunkGrid:Schedules</c> (env <c>PUNKGRID__Schedules__…</c>; the tick was
/// <c>PunkGrid:Scheduling:ScheduleTick</c> before, which keeps working for a release, with a warning).
/// </summary>
public sealed class RetrainingScheduleOptions
{
    public const string Section = "PunkGrid:Schedules";

    /// <summary>How often each schedule's reminder wakes it to check whether a firing is due (the cron's resolution).</summary>
    public TimeSpan Tick { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Checked when the silo starts (<c>ValidateOnStart</c>).</summary>
    public sealed class Validator : IValidateOptions<RetrainingScheduleOptions>
    {
        public ValidateOptionsResult Validate(string? name, RetrainingScheduleOptions o) => o.Tick < TimeSpan.FromSeconds(1)
            ? ValidateOptionsResult.Fail($"PunkGrid:Schedules:Tick {o.Tick} is too short: at least 00:00:01")
            : ValidateOptionsResult.Success;
    }
}
