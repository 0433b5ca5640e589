using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// What stands in front of the dashboard and <c>/api/</c>, all of it ASP.NET Core's own: host filtering (the Host header
/// must be one this dashboard answers to: DNS rebinding), problem details (RFC 9457) for every error, the exception
/// handler (<see cref="ApiExceptionHandler"/>), the bearer-token authentication scheme
/// (<see cref="ClusterTokenAuthenticationHandler"/>) with an authorization policy on every route that changes the cluster,
/// and security headers (<c>nosniff</c>, no framing, the page's own scripts only).
/// </summary>
public static class HttpEdge
{
    public static void AddDashboardEdge(this WebApplicationBuilder builder, DashboardSettings settings)
    {
        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            var problem = context.ProblemDetails;
            var host = context.HttpContext.Request.Host.Host;
            if (problem.Status == StatusCodes.Status400BadRequest && problem.Detail is null && !settings.Serves(host))
            {
                problem.Detail = $"host '{ApiRequests.Printable(host)}' is not served here; allowed: {string.Join(", ", settings.AllowedHosts)} (PunkGrid:Dashboard:AllowedHosts)";
            }
            if (problem.Detail is not null)
            {
                problem.Extensions["error"] = problem.Detail; // the body's message before problem details (kept for a release)
            }
        });
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.Configure<HostFilteringOptions>(options =>
        {
            options.AllowedHosts = [.. settings.AllowedHosts];
            options.IncludeFailureMessage = false; // the status-code page writes the problem
        });
        // Outermost, so that host filtering's bodiless 400 (it runs first) gets the headers and becomes a problem too.
        services.Insert(0, ServiceDescriptor.Transient<IStartupFilter, OuterEdge>());
        services.AddAuthentication(ClusterTokenAuthenticationHandler.SchemeName)
            .AddScheme<ClusterTokenAuthenticationOptions, ClusterTokenAuthenticationHandler>(ClusterTokenAuthenticationHandler.SchemeName, o => o.Token = settings.Token);
        services.AddAuthorizationBuilder().AddPolicy(ClusterTokenAuthenticationHandler.OperatorPolicy, policy => policy
            .AddAuthenticationSchemes(ClusterTokenAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser());
        services.AddSingleton<CrossSiteRequestFilter>();
        services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            options.SerializerOptions.Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping; // 'Wings', not \u0027Wings\u0027
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJson.Default);
        });
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = ApiRequests.MaxBodyBytes);
    }

    public static void UseDashboardEdge(this WebApplication app) => app.UseExceptionHandler();

    /// <summary>Before everything else, host filtering included: the security headers on every response, and problems for bodiless errors.</summary>
    private sealed class OuterEdge : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, next) =>
            {
                context.Response.OnStarting(() =>
                {
                    var headers = context.Response.Headers;
                    headers.XContentTypeOptions = "nosniff";
                    headers.XFrameOptions = "DENY";
                    headers["Referrer-Policy"] = "no-referrer";
                    headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'";
                    return Task.CompletedTask;
                });
                return next(context);
            });
            app.UseStatusCodePages();
            next(app);
        };
    }
}
