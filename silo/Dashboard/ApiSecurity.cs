using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// What stands in front of the dashboard and <c>/api/</c>, in order:
/// <list type="number">
/// <item>every error is JSON: a refused request gets a 4xx naming what is wrong; anything unexpected becomes a 500 with an
/// id that the silo's log shows beside the exception;</item>
/// <item>the Host header must be one this dashboard answers to (DNS rebinding);</item>
/// <item>responses say <c>nosniff</c>, may not be framed, and the page may load only its own scripts;</item>
/// <item>a request that changes something (every method but GET and HEAD) needs the bearer token (compared in constant
/// time), a JSON body if it has one (no HTML-form or <c>text/plain</c> posts), and no foreign <c>Origin</c>.</item>
/// </list>
/// </summary>
public static partial class ApiSecurity
{
    public static void UseApiSecurity(this WebApplication app, DashboardSettings settings)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("PunkGrid.Silo.Dashboard.Api");
        app.Use(async (context, next) =>
        {
            try
            {
                await GuardAsync(context, next, settings);
            }
            catch (BadRequestException ex) when (!context.Response.HasStarted)
            {
                await WriteErrorAsync(context, StatusCodes.Status400BadRequest, ex.Message);
            }
            catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
            {
                var message = ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? $"the request body is larger than {ApiRequests.MaxBodyBytes / 1024} KiB"
                    : $"malformed request: {ex.Message}";
                await WriteErrorAsync(context, ex.StatusCode, message);
            }
            catch (Exception ex) when (ex is TimeoutException or Orleans.Runtime.OrleansException && !context.Response.HasStarted)
            {
                await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, $"the cluster did not answer: {ex.Message}");
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // the caller went away
            }
            catch (Exception ex)
            {
                var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
                LogUnexpected(logger, id, context.Request.Method, context.Request.Path, ex);
                if (!context.Response.HasStarted)
                {
                    await WriteErrorAsync(context, StatusCodes.Status500InternalServerError, $"internal error {id}: the silo's log has the details", id);
                }
            }
        });
    }

    private static async Task GuardAsync(HttpContext context, Func<Task> next, DashboardSettings settings)
    {
        var request = context.Request;
        var headers = context.Response.Headers;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";
        if (!settings.Serves(request.Host.Host))
        {
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest,
                $"host '{ApiRequests.Printable(request.Host.Host)}' is not served here; allowed: {string.Join(", ", settings.AllowedHosts)} (PunkGrid:Dashboard:AllowedHosts)");
            return;
        }
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            if (settings.Token is { } token && !HasToken(request, token))
            {
                headers.WWWAuthenticate = "Bearer";
                await WriteErrorAsync(context, StatusCodes.Status401Unauthorized,
                    "this request changes the cluster: send 'Authorization: Bearer TOKEN' with the cluster's token");
                return;
            }
            if (request.Headers.Origin is { Count: > 0 } origin && !SameOrigin(origin.ToString(), request, settings))
            {
                await WriteErrorAsync(context, StatusCodes.Status403Forbidden, $"requests from origin '{ApiRequests.Printable(origin.ToString())}' may not change the cluster");
                return;
            }
            var hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0;
            if (hasBody && !IsJson(request.ContentType))
            {
                await WriteErrorAsync(context, StatusCodes.Status415UnsupportedMediaType,
                    $"a request body must be JSON (Content-Type: application/json), not '{ApiRequests.Printable(request.ContentType ?? "none")}'");
                return;
            }
        }
        await next();
    }

    private static bool IsJson(string? contentType) =>
        contentType is not null && (contentType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/json;", StringComparison.OrdinalIgnoreCase));

    /// <summary>An Origin is acceptable when it names this very host and port, or an allowed host.</summary>
    private static bool SameOrigin(string origin, HttpRequest request, DashboardSettings settings) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && (string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase)
            || (settings.AllowedHosts.Contains(uri.Host, StringComparer.OrdinalIgnoreCase) && uri.Port == request.Host.Port));

    private static bool HasToken(HttpRequest request, string token)
    {
        var header = request.Headers.Authorization.ToString();
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var given = Encoding.UTF8.GetBytes(header[prefix.Length..].Trim());
        var expected = Encoding.UTF8.GetBytes(token);
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(expected));
    }

    public static Task WriteErrorAsync(HttpContext context, int status, string message, string? id = null)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(id is null ? new { error = message } : (object)new { error = message, id }, DashboardApi.Json);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "API internal error {Id} on {Method} {Path}")]
    private static partial void LogUnexpected(ILogger logger, string id, string method, string path, Exception exception);
}
