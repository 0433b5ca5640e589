using System.Net;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// Where the dashboard and <c>/api/</c> listen (<c>PunkGrid:Dashboard:Urls</c>, <c>;</c>-separated; <c>off</c> turns
/// the HTTP surface off) and the bearer token that mutating requests must carry (<c>PunkGrid:Dashboard:Token</c>).
/// Without a token the silo serves loopback addresses only.
/// </summary>
public sealed record DashboardSettings(IReadOnlyList<string> Urls, string? Token)
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    public bool Enabled => Urls.Count > 0;

    /// <summary>Parses and checks the settings: a clear <see cref="ArgumentException"/> for a bad URL or a public address without a token.</summary>
    public static DashboardSettings Create(string? urls, string? token)
    {
        token = string.IsNullOrWhiteSpace(token) ? null : token.Trim();
        var value = string.IsNullOrWhiteSpace(urls) ? DefaultUrl : urls.Trim();
        if (value.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return new DashboardSettings([], token);
        }
        var list = value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var url in list)
        {
            var host = HostOf(url);
            if (!IsLoopback(host) && token is null)
            {
                throw new ArgumentException(
                    $"dashboard URL '{url}' is not a loopback address: set a bearer token (PunkGrid:Dashboard:Token, env PUNKGRID__Dashboard__Token) " +
                    "to serve the dashboard beyond this machine, or bind it to 127.0.0.1");
            }
        }
        return new DashboardSettings(list, token);
    }

    private static string HostOf(string url)
    {
        // Kestrel's wildcards (http://*:80, http://+:80) are not valid URIs: they mean every address.
        var wildcard = url.Replace("://*", "://wildcard.invalid", StringComparison.Ordinal).Replace("://+", "://wildcard.invalid", StringComparison.Ordinal);
        if (!Uri.TryCreate(wildcard, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
        {
            throw new ArgumentException($"dashboard URL '{url}' is not valid: expected http://HOST:PORT (e.g. {DefaultUrl}), several separated by ';', or 'off'");
        }
        return uri.Host;
    }

    private static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}
