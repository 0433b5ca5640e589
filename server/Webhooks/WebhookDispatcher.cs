using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Webhooks;

/// <summary>
/// Delivers the webhook outbox, on every silo: claims due deliveries (each claimed by one silo at a time, under a lease of
/// <see cref="WebhookOptions.ClaimTimeout"/>), posts each as JSON signed with its hook's secret, and records the answer: a
/// 2xx delivers it, anything else (an error status, a timeout, a refused connection) backs off and tries again, for as long
/// as it takes. A silo that dies mid-delivery leaves its claim to expire; another silo then delivers it. Delivery is at
/// least once: a repeat carries the same <c>X-PunkGrid-Event-Id</c> (and body <c>id</c>), so a receiver can drop it.
/// </summary>
public sealed partial class WebhookDispatcher(
    WebhookStore store, ILocalSiloDetails silo, IOptions<WebhookOptions> options, ILogger<WebhookDispatcher> logger) : BackgroundService
{
    private readonly HttpClient http = new(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>This silo incarnation, as recorded in <c>claimed_by</c>.</summary>
    private string Dispatcher => silo.SiloAddress.ToString();

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return;
        }
        var failing = 0;
        while (!stopping.IsCancellationRequested)
        {
            var full = false;
            try
            {
                var claimed = await store.ClaimAsync(Dispatcher, settings.BatchSize, settings.ClaimTimeout, stopping);
                full = claimed.Count == settings.BatchSize;
                await Task.WhenAll(claimed.Select(d => DeliverAsync(d, stopping)));
                failing = 0;
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                // The database is away (the claims wait in it), or something unforeseen: either way this loop goes on.
                if (failing++ % 30 == 0)
                {
                    LogOutboxUnreachable(logger, ex.GetBaseException().Message);
                }
            }
            if (!full)
            {
                try
                {
                    await Task.Delay(settings.PollInterval, stopping);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private async Task DeliverAsync(ClaimedDelivery delivery, CancellationToken stopping)
    {
        var settings = options.Value;
        int? status = null;
        string error;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping))
        {
            timeout.CancelAfter(settings.RequestTimeout);
            try
            {
                using var request = Request(delivery);
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                status = (int)response.StatusCode;
                if (response.IsSuccessStatusCode)
                {
                    LogDelivered(logger, delivery.Hook, delivery.EventType, delivery.EventId, Printable(delivery.Url), status.Value, delivery.Attempt);
                    await RecordAsync(() => store.DeliveredAsync(delivery.DeliveryId, status.Value, CancellationToken.None));
                    return;
                }
                error = $"HTTP {status} {response.ReasonPhrase}";
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return; // the silo stops: the claim expires and another silo (or this one, restarted) delivers it
            }
            catch (OperationCanceledException)
            {
                error = $"no answer within {settings.RequestTimeout.TotalSeconds:0.#} s";
            }
            catch (HttpRequestException ex)
            {
                error = ex.GetBaseException().Message;
            }
        }
        var backoff = Backoff(delivery.Attempt, settings);
        LogFailed(logger, delivery.Hook, delivery.EventType, delivery.EventId, Printable(delivery.Url), delivery.Attempt, error, backoff.TotalSeconds);
        await RecordAsync(() => store.FailedAsync(delivery.DeliveryId, Dispatcher, delivery.Attempt, status, error, backoff, stopping));
    }

    /// <summary>
    /// Records how a delivery went. If the database cannot take it, the claim expires and the delivery is tried again then:
    /// a delivered event may be delivered twice (same id), never lost.
    /// </summary>
    private async Task RecordAsync(Func<Task> record)
    {
        try
        {
            await record();
        }
        catch (Exception ex) when (DatabaseRetry.IsTransient(ex) || ex is OperationCanceledException)
        {
            LogNotRecorded(logger, ex.GetBaseException().Message);
        }
    }

    /// <summary>The POST: the event's JSON, its type, id and attempt, a timestamp and the signature over both.</summary>
    private static HttpRequestMessage Request(ClaimedDelivery delivery)
    {
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url)
        {
            Content = new StringContent(delivery.Body, Encoding.UTF8, "application/json"),
        };
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("PunkGrid-Webhooks", "1.0"));
        request.Headers.Add("X-PunkGrid-Event", delivery.EventType);
        request.Headers.Add("X-PunkGrid-Event-Id", delivery.EventId.ToString());
        request.Headers.Add("X-PunkGrid-Delivery-Attempt", delivery.Attempt.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.Header, WebhookSignature.Sign(delivery.Secret, timestamp, delivery.Body));
        return request;
    }

    /// <summary>The wait before attempt <paramref name="attempt"/> + 1: doubling from the first backoff, capped, ±20 % jitter.</summary>
    public static TimeSpan Backoff(int attempt, WebhookOptions settings)
    {
        var doubled = settings.FirstBackoff.TotalSeconds * Math.Pow(2, Math.Min(30, Math.Max(0, attempt - 1)));
        var capped = Math.Min(doubled, settings.MaxBackoff.TotalSeconds);
        return TimeSpan.FromSeconds(capped * (0.8 + 0.4 * Random.Shared.NextDouble()));
    }

    /// <summary>A URL as logged: scheme, host and path, without credentials or a query (which may carry tokens).</summary>
    private static string Printable(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped) : "(invalid url)";

    public override void Dispose()
    {
        http.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {Hook}: {Event} {EventId} delivered to {Url} ({Status}, attempt {Attempt})")]
    private static partial void LogDelivered(ILogger logger, string hook, string @event, Guid eventId, string url, int status, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {Hook}: {Event} {EventId} to {Url}, attempt {Attempt}: {Error}; trying again in {Seconds:F0} s")]
    private static partial void LogFailed(ILogger logger, string hook, string @event, Guid eventId, string url, int attempt, string error, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhooks: the outbox cannot be read ({Error}); deliveries wait")]
    private static partial void LogOutboxUnreachable(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhooks: a delivery's outcome could not be recorded ({Error}); it is tried again when its claim expires")]
    private static partial void LogNotRecorded(ILogger logger, string error);
}
