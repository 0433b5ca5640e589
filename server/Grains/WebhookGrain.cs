using System.Text.RegularExpressions;
using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Webhooks;

namespace PunkGrid.Server.Grains;

/// <summary>The cluster's webhooks: validated here, stored in PostgreSQL (<see cref="WebhookStore"/>); each silo's <see cref="WebhookDispatcher"/> delivers.</summary>
[StatelessWorker]
public sealed partial class WebhookGrain(WebhookStore store) : Grain, IWebhookGrain
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();

    public async Task<WebhookAdded> Add(string name, WebhookSpec spec)
    {
        if (Invalid(name, spec) is { } error)
        {
            return new WebhookAdded(false, error, null);
        }
        var secret = WebhookSignature.NewSecret();
        var events = spec.Events.Distinct(StringComparer.Ordinal).ToList();
        return await store.AddAsync(name, spec with { Events = events }, secret)
            ? new WebhookAdded(true, $"webhook '{name}' posts {string.Join(", ", events)} to {spec.Url}", secret)
            : new WebhookAdded(false, $"webhook '{name}' exists already (remove it first, or pick another name)", null);
    }

    public async Task<CommandResult> Remove(string name) => await store.RemoveAsync(name)
        ? new CommandResult(true, $"webhook '{name}' removed, with its undelivered events")
        : new CommandResult(false, $"unknown webhook '{name}' (see `punkgrid hooks list`)", NotFound: true);

    public Task<IReadOnlyList<WebhookView>> List() => store.ListAsync();

    public Task<IReadOnlyList<WebhookDelivery>> Deliveries(string? name, int limit) => store.DeliveriesAsync(name, Math.Clamp(limit, 1, 1000));

    public async Task<CommandResult> Ping(string name) => await store.PingAsync(name)
        ? new CommandResult(true, $"ping queued for webhook '{name}' (see `punkgrid hooks deliveries {name}`)")
        : new CommandResult(false, $"unknown webhook '{name}' (see `punkgrid hooks list`)", NotFound: true);

    /// <summary>What is wrong with a new hook, naming the value and what is allowed; null when nothing is.</summary>
    public static string? Invalid(string name, WebhookSpec spec)
    {
        if (!NamePattern().IsMatch(name))
        {
            return $"webhook name '{name}' is not allowed: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
        }
        if (!Uri.TryCreate(spec.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.Fragment.Length > 0 || spec.Url.Length > 2000)
        {
            return $"url '{spec.Url}' is not allowed: an absolute http:// or https:// URL without a #fragment, at most 2000 characters";
        }
        if (spec.Events.Count == 0)
        {
            return $"give at least one event: {string.Join(", ", WebhookEvents.All)}";
        }
        if (spec.Events.FirstOrDefault(e => !WebhookEvents.All.Contains(e)) is { } unknown)
        {
            return $"unknown event '{unknown}': the events are {string.Join(", ", WebhookEvents.All)}";
        }
        return null;
    }
}
