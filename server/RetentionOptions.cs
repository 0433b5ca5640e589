using Microsoft.Extensions.Options;

namespace PunkGrid.Server;

/// <summary>Retention of old runs on a timer, bound from <c>PunkGrid:Retention</c> (env <c>PUNKGRID__Retention__…</c>). Off unless <see cref="OlderThan"/> is set.</summary>
public sealed class RetentionOptions
{
    public const string Section = "PunkGrid:Retention";

    /// <summary>Runs that ended longer ago than this lose their logs, metric points between epoch ends and checkpoints. Unset: never on a timer (<c>punkgrid gc</c> still works).</summary>
    public TimeSpan? OlderThan { get; set; }

    /// <summary>How often a silo applies it (one silo at a time).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);

    public sealed class Validator : IValidateOptions<RetentionOptions>
    {
        public ValidateOptionsResult Validate(string? name, RetentionOptions o)
        {
            var errors = new List<string>();
            if (o.OlderThan is { } age && age < TimeSpan.FromMinutes(1))
            {
                errors.Add($"{Section}:OlderThan {age} is not allowed: at least a minute (unset: off)");
            }
            if (o.Interval < TimeSpan.FromSeconds(1) || o.Interval > TimeSpan.FromDays(7))
            {
                errors.Add($"{Section}:Interval {o.Interval} is not allowed: from a second to 7 days");
            }
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
