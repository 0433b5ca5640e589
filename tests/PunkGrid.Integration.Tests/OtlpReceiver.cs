using System.Collections.Concurrent;
using System.Net;
using PunkGrid.Tests.Shared;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// A minimal OTLP/HTTP (protobuf) receiver on loopback: it accepts what the silos export to <c>/v1/traces</c> and
/// <c>/v1/metrics</c> and decodes just enough protobuf to list span names and metric names.
/// </summary>
public sealed class OtlpReceiver : IDisposable
{
    private readonly ConcurrentQueue<(string Path, byte[] Body)> received = new();
    private readonly LoopbackHttpServer server;

    public OtlpReceiver()
    {
        server = new LoopbackHttpServer(ReceiveAsync);
    }

    public Uri Endpoint => server.BaseUri;

    private async Task ReceiveAsync(HttpListenerContext context)
    {
        using var body = new MemoryStream();
        await context.Request.InputStream.CopyToAsync(body);
        received.Enqueue((context.Request.Url!.AbsolutePath, body.ToArray()));
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/x-protobuf";
    }

    /// <summary>ExportTraceServiceRequest → ResourceSpans(1) → ScopeSpans(2) → Span(2) → name(5).</summary>
    public IReadOnlyList<string> SpanNames() => Names("/v1/traces", nameField: 5);

    /// <summary>ExportMetricsServiceRequest → ResourceMetrics(1) → ScopeMetrics(2) → Metric(2) → name(1).</summary>
    public IReadOnlyList<string> MetricNames() => Names("/v1/metrics", nameField: 1);

    private List<string> Names(string path, int nameField) =>
        [.. received.Where(r => r.Path == path).SelectMany(r =>
            Fields(r.Body, 1).SelectMany(resource => Fields(resource, 2)).SelectMany(scope => Fields(scope, 2))
                .SelectMany(item => Fields(item, nameField)).Select(b => System.Text.Encoding.UTF8.GetString(b)))];

    /// <summary>The length-delimited fields numbered <paramref name="number"/> of one protobuf message.</summary>
    private static IEnumerable<byte[]> Fields(byte[] message, int number)
    {
        var at = 0;
        var found = new List<byte[]>();
        while (at < message.Length)
        {
            var tag = Varint(message, ref at);
            var (field, wire) = ((int)(tag >> 3), (int)(tag & 7));
            switch (wire)
            {
                case 0:
                    Varint(message, ref at);
                    break;
                case 1:
                    at += 8;
                    break;
                case 5:
                    at += 4;
                    break;
                case 2:
                    var length = (int)Varint(message, ref at);
                    if (field == number)
                    {
                        found.Add(message[at..(at + length)]);
                    }
                    at += length;
                    break;
                default:
                    throw new InvalidDataException($"unexpected protobuf wire type {wire}");
            }
        }
        return found;
    }

    private static ulong Varint(byte[] data, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    public void Dispose() => server.Dispose();
}
