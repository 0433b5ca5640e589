using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using PunkGrid.Server.Webhooks;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// A webhook receiver on loopback for the tests: records every request (headers, body, whether its signature verified
/// under <see cref="Secret"/>) and answers as <see cref="Answer"/> says for the n-th request (a status, after a delay).
/// Requests are served concurrently, so one held back does not stop the next.
/// </summary>
public sealed class WebhookReceiver : IDisposable
{
    private readonly LoopbackHttpServer server;

    public sealed record Received(string EventType, Guid EventId, int Attempt, JsonElement Body, bool SignatureValid, string Raw, DateTimeOffset At);

    /// <param name="port">Where to listen (default: a free port); a receiver that comes back after an outage listens where it did.</param>
    public WebhookReceiver(int? port = null)
    {
        server = new LoopbackHttpServer(RespondAsync, concurrent: true, port);
    }

    public Uri Url => new(server.BaseUri, "hook");

    public static int FreePort() => LoopbackHttpServer.FreePort();

    /// <summary>The URL a receiver on <paramref name="port"/> will have, for a hook added while it is down.</summary>
    public static Uri UrlAt(int port) => new($"http://127.0.0.1:{port}/hook");

    /// <summary>The hook's secret, once added (to verify signatures).</summary>
    public string? Secret { get; set; }

    /// <summary>For the n-th request (from 0): the status to answer and how long to wait before answering.</summary>
    public Func<int, (int Status, TimeSpan Delay)> Answer { get; set; } = _ => (200, TimeSpan.Zero);

    public ConcurrentQueue<Received> Requests { get; } = new();

    private int count = -1;

    /// <summary>The requests answered 2xx, by event id.</summary>
    public ConcurrentDictionary<Guid, Received> Accepted { get; } = new();

    private async Task RespondAsync(HttpListenerContext context)
    {
        var n = Interlocked.Increment(ref count);
        using var reader = new StreamReader(context.Request.InputStream);
        var raw = await reader.ReadToEndAsync();
        var timestamp = long.Parse(context.Request.Headers[WebhookSignature.TimestampHeader] ?? "0", System.Globalization.CultureInfo.InvariantCulture);
        var signature = context.Request.Headers[WebhookSignature.Header] ?? "";
        var received = new Received(context.Request.Headers["X-PunkGrid-Event"] ?? "", Guid.Parse(context.Request.Headers["X-PunkGrid-Event-Id"] ?? Guid.Empty.ToString()),
            int.Parse(context.Request.Headers["X-PunkGrid-Delivery-Attempt"] ?? "0", System.Globalization.CultureInfo.InvariantCulture),
            JsonDocument.Parse(raw).RootElement.Clone(), Secret is not null && WebhookSignature.Verify(Secret, timestamp, raw, signature), raw, DateTimeOffset.UtcNow);
        Requests.Enqueue(received);
        var (status, delay) = Answer(n);
        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay);
        }
        if (status is >= 200 and < 300)
        {
            Accepted.TryAdd(received.EventId, received);
        }
        context.Response.StatusCode = status;
    }

    public void Dispose() => server.Dispose();
}
