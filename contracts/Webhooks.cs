namespace PunkGrid.Contracts;

/// <summary>The events a webhook can ask for.</summary>
public static class WebhookEvents
{
    /// <summary>Every job of a run ended and none failed (some may have been cancelled).</summary>
    public const string RunFinished = "run.finished";

    /// <summary>Every job of a run ended and at least one failed.</summary>
    public const string RunFailed = "run.failed";

    /// <summary>A job was quarantined: attempts in a row lost their worker before saving a checkpoint.</summary>
    public const string JobQuarantined = "job.quarantined";

    /// <summary>A schedule's firing was skipped: the run of its previous firing was still going.</summary>
    public const string ScheduleMissed = "schedule.missed";

    /// <summary>A schedule fired and its run was refused.</summary>
    public const string ScheduleFailed = "schedule.failed";

    /// <summary>Sent by <c>punkgrid hooks ping</c> to one hook, whatever it asked for.</summary>
    public const string Ping = "ping";

    public static readonly IReadOnlyList<string> All = [RunFinished, RunFailed, JobQuarantined, ScheduleMissed, ScheduleFailed];
}

/// <summary>A webhook: where to post, and which events (<see cref="WebhookEvents.All"/>).</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.WebhookSpec")]
public sealed record WebhookSpec(
    [property: Id(0)] string Url,
    [property: Id(1)] IReadOnlyList<string> Events);

/// <summary>
/// The answer to adding a webhook. <see cref="Secret"/>: the key its deliveries are signed with (HMAC-SHA256), given
/// once, here; it is never shown or logged again.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.WebhookAdded")]
public sealed record WebhookAdded(
    [property: Id(0)] bool Ok,
    [property: Id(1)] string Message,
    [property: Id(2)] string? Secret);

/// <summary>A webhook as listed (no secret): its deliveries pending, delivered and the last error.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.WebhookView")]
public sealed record WebhookView(
    [property: Id(0)] string Name,
    [property: Id(1)] string Url,
    [property: Id(2)] IReadOnlyList<string> Events,
    [property: Id(3)] DateTimeOffset CreatedAt,
    [property: Id(4)] long Pending,
    [property: Id(5)] long Delivered,
    [property: Id(6)] DateTimeOffset? LastDeliveredAt,
    [property: Id(7)] string? LastError);

/// <summary>One event for one hook: its attempts, when it was delivered or is tried next, and the last error.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.WebhookDelivery")]
public sealed record WebhookDelivery(
    [property: Id(0)] long DeliveryId,
    [property: Id(1)] Guid EventId,
    [property: Id(2)] string Hook,
    [property: Id(3)] string EventType,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] int Attempts,
    [property: Id(6)] DateTimeOffset? DeliveredAt,
    [property: Id(7)] DateTimeOffset? NextAttemptAt,
    [property: Id(8)] int? LastStatus,
    [property: Id(9)] string? LastError);

/// <summary>The cluster's webhooks (<c>punkgrid hooks</c>). Adding, removing and pinging change the cluster: operators only.</summary>
[Alias("PunkGrid.IWebhookGrain")]
public interface IWebhookGrain : IGrainWithIntegerKey
{
    [Alias("Add")]
    Task<WebhookAdded> Add(string name, WebhookSpec spec);

    [Alias("Remove")]
    Task<CommandResult> Remove(string name);

    [Alias("List")]
    Task<IReadOnlyList<WebhookView>> List();

    /// <summary>The newest deliveries first, of one hook or all.</summary>
    [Alias("Deliveries")]
    Task<IReadOnlyList<WebhookDelivery>> Deliveries(string? name, int limit);

    /// <summary>Queues a <c>ping</c> event for one hook, to check its receiver.</summary>
    [Alias("Ping")]
    Task<CommandResult> Ping(string name);
}
