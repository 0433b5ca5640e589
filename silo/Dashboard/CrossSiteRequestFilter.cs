using Microsoft.AspNetCore.Http;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// On the routes that change the cluster, after the token: no foreign <c>Origin</c> (403) and a JSON body if there is one
/// (415), so that neither an HTML form nor a no-cors <c>text/plain</c> post from another page can reach them.
/// </summary>
public sealed class CrossSiteRequestFilter(DashboardSettings settings) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if (request.Headers.Origin is { Count: > 0 } origin && !SameOrigin(origin.ToString(), request))
        {
            return ValueTask.FromResult<object?>(TypedResults.Problem(
                $"requests from origin '{ApiRequests.Printable(origin.ToString())}' may not change the cluster", statusCode: StatusCodes.Status403Forbidden));
        }
        var hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0;
        if (hasBody && !IsJson(request.ContentType))
        {
            return ValueTask.FromResult<object?>(TypedResults.Problem(
                $"a request body must be JSON (Content-Type: application/json), not '{ApiRequests.Printable(request.ContentType ?? "none")}'",
                statusCode: StatusCodes.Status415UnsupportedMediaType));
        }
        return next(context);
    }

    private static bool IsJson(string? contentType) =>
        contentType is not null && (contentType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/json;", StringComparison.OrdinalIgnoreCase));

    /// <summary>An Origin is acceptable when it names this very host and port, or an allowed host.</summary>
    private bool SameOrigin(string origin, HttpRequest request) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && (string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase)
            || (settings.AllowedHosts.Contains(uri.Host, StringComparer.OrdinalIgnoreCase) && uri.Port == request.Host.Port));
}
