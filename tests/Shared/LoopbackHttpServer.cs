using System.Net;
using System.Net.Sockets;

namespace PunkGrid.Tests.Shared;

/// <summary>
/// A real HTTP server on a free loopback port for tests: every request is handed to <c>respond</c>, which sets the
/// status and writes the body; the server closes the response. One request at a time, or with <c>concurrent</c> each on
/// its own task (a handler that holds one request back does not stop the next). Compiled into each test project that
/// needs one.
/// </summary>
public sealed class LoopbackHttpServer : IDisposable
{
    private readonly HttpListener listener = new();
    private readonly Func<HttpListenerContext, Task> respond;
    private readonly Task serving;
    private readonly bool concurrent;

    /// <param name="port">The port to listen on (default: a free one), e.g. one a client was already told about.</param>
    public LoopbackHttpServer(Func<HttpListenerContext, Task> respond, bool concurrent = false, int? port = null)
    {
        this.respond = respond;
        this.concurrent = concurrent;
        BaseUri = new Uri($"http://127.0.0.1:{port ?? FreePort()}/");
        listener.Prefixes.Add(BaseUri.ToString());
        listener.Start();
        serving = Task.Run(ServeAsync);
    }

    /// <summary>The server's root, <c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri BaseUri { get; }

    /// <summary>A TCP port on loopback that nothing listens on at the moment of the call.</summary>
    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private async Task ServeAsync()
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (!listener.IsListening)
            {
                return;
            }
            if (concurrent)
            {
                _ = Task.Run(() => HandleAsync(context));
            }
            else
            {
                await HandleAsync(context);
            }
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        try
        {
            await respond(context);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or InvalidOperationException or ObjectDisposedException)
        {
            // The client went away mid-request (a silo killed while it exported, say): drop this request, keep serving.
            context.Response.Abort();
        }
    }

    public void Dispose()
    {
        listener.Stop();
        listener.Close();
        serving.Wait(TimeSpan.FromSeconds(5));
    }
}
