using Microsoft.Extensions.Options;

namespace PunkGrid.Server;

/// <summary>Webhook delivery, bound from <c>PunkGrid:Webhooks</c> (env <c>PUNKGRID__Webhooks__…</c>).</summary>
public sealed class WebhookOptions
{
    public const string Section = "PunkGrid:Webhooks";

    /// <summary>Whether this silo delivers (every silo does by default; each delivery is claimed by one at a time).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often a silo looks for due deliveries.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a receiver has to answer one delivery.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a silo's claim of a delivery holds; after it another silo may try (a silo that died mid-delivery).</summary>
    public TimeSpan ClaimTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The first retry's wait; each further failure doubles it (with jitter) up to <see cref="MaxBackoff"/>. Deliveries are retried until they succeed.</summary>
    public TimeSpan FirstBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Deliveries claimed at once.</summary>
    public int BatchSize { get; set; } = 20;

    public sealed class Validator : IValidateOptions<WebhookOptions>
    {
        public ValidateOptionsResult Validate(string? name, WebhookOptions o)
        {
            var errors = new List<string>();
            if (o.PollInterval <= TimeSpan.Zero || o.PollInterval > TimeSpan.FromMinutes(5))
            {
                errors.Add($"{Section}:PollInterval {o.PollInterval} is not allowed: above zero, at most 5 minutes");
            }
            if (o.RequestTimeout <= TimeSpan.Zero || o.RequestTimeout > TimeSpan.FromMinutes(5))
            {
                errors.Add($"{Section}:RequestTimeout {o.RequestTimeout} is not allowed: above zero, at most 5 minutes");
            }
            if (o.ClaimTimeout < o.RequestTimeout * 2)
            {
                errors.Add($"{Section}:ClaimTimeout {o.ClaimTimeout} is not allowed: at least twice the request timeout ({o.RequestTimeout}), so a slow receiver is not posted to by two silos");
            }
            if (o.FirstBackoff <= TimeSpan.Zero || o.MaxBackoff < o.FirstBackoff)
            {
                errors.Add($"{Section}:FirstBackoff {o.FirstBackoff} and MaxBackoff {o.MaxBackoff} are not allowed: above zero, the first no longer than the most");
            }
            if (o.BatchSize is < 1 or > 1000)
            {
                errors.Add($"{Section}:BatchSize {o.BatchSize} is not allowed: 1 to 1000");
            }
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
