using Microsoft.Extensions.Options;

namespace PunkGrid.Server;

/// <summary>Hyperparameter searches' decision pass, bound from <c>PunkGrid:Search</c> (env <c>PUNKGRID__Search__…</c>).</summary>
public sealed class SearchOptions
{
    public const string Section = "PunkGrid:Search";

    /// <summary>How often a silo looks at the open searches (each is decided by one silo at a time).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Fault injection (honoured only with <c>PunkGrid:Queue:AllowFaultInjection</c>): how long a silo holds decisions that
    /// include a promotion uncommitted before committing them, so a test can kill it between a result and its promotion.
    /// </summary>
    public TimeSpan HoldPromotionsFor { get; set; } = TimeSpan.Zero;

    public sealed class Validator : IValidateOptions<SearchOptions>
    {
        public ValidateOptionsResult Validate(string? name, SearchOptions o)
        {
            var errors = new List<string>();
            if (o.Interval < TimeSpan.FromMilliseconds(100) || o.Interval > TimeSpan.FromMinutes(5))
            {
                errors.Add($"{Section}:Interval {o.Interval} is not allowed: from 100 ms to 5 minutes");
            }
            if (o.HoldPromotionsFor < TimeSpan.Zero || o.HoldPromotionsFor > TimeSpan.FromMinutes(5))
            {
                errors.Add($"{Section}:HoldPromotionsFor {o.HoldPromotionsFor} is not allowed: zero to 5 minutes");
            }
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
