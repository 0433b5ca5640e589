using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace PunkGrid.Silo.Dashboard;

/// <summary>The cluster's bearer token (<c>PunkGrid:Dashboard:Token</c>); null only when the dashboard runs insecure (loopback only).</summary>
public sealed class ClusterTokenAuthenticationOptions : AuthenticationSchemeOptions
{
    public string? Token { get; set; }
}

/// <summary>
/// ASP.NET Core authentication for the operator's bearer token: <c>Authorization: Bearer TOKEN</c>, compared in constant
/// time. The <see cref="OperatorPolicy"/> that every route changing the cluster requires asks for it; a request without it
/// is challenged with a 401 problem that says what to send. Reading routes need no token.
/// </summary>
public sealed class ClusterTokenAuthenticationHandler(
    IOptionsMonitor<ClusterTokenAuthenticationOptions> options, ILoggerFactory logger, UrlEncoder encoder, IProblemDetailsService problems)
    : AuthenticationHandler<ClusterTokenAuthenticationOptions>(options, logger, encoder)
{
    public const string SchemeName = "ClusterToken";

    /// <summary>The authorization policy of the routes that change the cluster.</summary>
    public const string OperatorPolicy = "operator";

    private const string Prefix = "Bearer ";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Options.Token is not { } token)
        {
            return Task.FromResult(Success("operator (PunkGrid:Dashboard:Insecure: no token)"));
        }
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[Prefix.Length..].Trim()));
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        return Task.FromResult(CryptographicOperations.FixedTimeEquals(given, expected)
            ? Success("operator")
            : AuthenticateResult.Fail("the bearer token is not the cluster's"));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Detail = "this request changes the cluster: send 'Authorization: Bearer TOKEN' with the cluster's token",
            },
        });
    }

    private AuthenticateResult Success(string name) =>
        AuthenticateResult.Success(new AuthenticationTicket(
            new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, name)], SchemeName)), SchemeName));
}
