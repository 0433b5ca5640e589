using Microsoft.Extensions.Logging;
using PunkGrid.Contracts;

namespace PunkGrid.Server.Security;

/// <summary>
/// What a client outside the silos (an operator's CLI) may call on PunkGrid's grains: the grain interfaces of
/// <c>PunkGrid.Contracts</c>, the operator surface (with the Orleans machinery calling them needs, such as the streaming
/// behind <c>watch</c>). What a silo does for itself — reminder ticks (<see cref="IRemindable"/>), any PunkGrid grain
/// interface outside the contracts — is refused when the call comes from such a client, before the grain runs. (Workers lease and report in the database, not through grains at all.) Mutual TLS decides who is a client
/// of this cluster; this filter decides what a client can reach.
/// </summary>
public sealed partial class OperatorSurfaceFilter(ILogger<OperatorSurfaceFilter> logger) : IIncomingGrainCallFilter
{
    private static readonly System.Reflection.Assembly Surface = typeof(IRunGrain).Assembly;

    public Task Invoke(IIncomingGrainCallContext context)
    {
        var declaring = context.InterfaceMethod?.DeclaringType;
        if (context.SourceId is { } source && IsExternalClient(source) && IsApplicationGrain(context.TargetId) && IsInternal(declaring))
        {
            LogRefused(logger, declaring?.Name ?? context.InterfaceType.ToString(), context.InterfaceMethod?.Name ?? "?", source.ToString());
            throw new UnauthorizedAccessException(
                $"{declaring?.Name ?? context.InterfaceType.ToString()}.{context.InterfaceMethod?.Name} is internal to the cluster and cannot be called by a client");
        }
        return context.Invoke();
    }

    /// <summary>
    /// A client outside the silos: Orleans addresses clients as <c>sys.client</c> grains; a silo's own client (the one its
    /// runtime and its dashboard use) is <c>sys.client/hosted-…</c> and belongs to the cluster.
    /// </summary>
    private static bool IsExternalClient(GrainId source) =>
        source.Type.ToString()!.StartsWith("sys.client", StringComparison.Ordinal) && !source.Key.ToString()!.StartsWith("hosted-", StringComparison.Ordinal);

    /// <summary>
    /// A silo's own business: reminder ticks, and any grain interface of PunkGrid's outside the contracts. Orleans' own grain
    /// extensions (the streaming behind <c>watch</c>, cancellation) are part of calling the contracts' grains and stay open.
    /// </summary>
    private static bool IsInternal(Type? declaring) =>
        declaring is null || declaring == typeof(IRemindable)
        || (declaring.Assembly != Surface && declaring.Namespace?.StartsWith("PunkGrid", StringComparison.Ordinal) == true);

    /// <summary>An application grain, not one of Orleans' system targets (<c>sys.…</c>), which clients legitimately call.</summary>
    private static bool IsApplicationGrain(GrainId target) => !target.Type.ToString()!.StartsWith("sys.", StringComparison.Ordinal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a client's call to internal {Interface}.{Method} (from {Source})")]
    private static partial void LogRefused(ILogger logger, string @interface, string method, string source);
}
