using System.Security.Cryptography;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace PunkGrid.Silo.Dashboard;

/// <summary>
/// What <c>UseExceptionHandler</c> makes of an exception, as a problem: a refused request (<see cref="BadRequestException"/>)
/// 400 naming the field; a body Kestrel refused its own status (413: too large); a cluster that did not answer 503; the
/// caller gone, nothing; anything else a 500 with an id that the silo's log shows beside the exception.
/// </summary>
public sealed partial class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            return true; // the caller went away
        }
        var (status, detail, id) = exception switch
        {
            BadRequestException bad => (StatusCodes.Status400BadRequest, bad.Message, null),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => (StatusCodes.Status413PayloadTooLarge,
                $"the request body is larger than {ApiRequests.MaxBodyBytes / 1024} KiB", null),
            BadHttpRequestException bad => (bad.StatusCode, $"malformed request: {bad.Message}", null),
            TimeoutException or Orleans.Runtime.OrleansException => (StatusCodes.Status503ServiceUnavailable, $"the cluster did not answer: {exception.Message}", null),
            _ => Unexpected(context, exception),
        };
        context.Response.StatusCode = status;
        var problem = new ProblemDetailsContext { HttpContext = context, Exception = exception, ProblemDetails = { Status = status, Detail = detail } };
        if (id is not null)
        {
            problem.ProblemDetails.Extensions["id"] = id;
        }
        return await problems.TryWriteAsync(problem);
    }

    private (int, string, string?) Unexpected(HttpContext context, Exception exception)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        LogUnexpected(logger, id, context.Request.Method, context.Request.Path, exception);
        return (StatusCodes.Status500InternalServerError, $"internal error {id}: the silo's log has the details", id);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "API internal error {Id} on {Method} {Path}")]
    private static partial void LogUnexpected(ILogger logger, string id, string method, string path, Exception exception);
}
