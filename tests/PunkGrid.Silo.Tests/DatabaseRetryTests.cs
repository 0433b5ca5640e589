using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using PunkGrid.Server.Storage;

namespace PunkGrid.Silo.Tests;

/// <summary>
/// Which failures <see cref="DatabaseRetry"/> rides out: every way a database outage or a failover shows itself (issue 30),
/// and none of the errors that say the call itself was wrong.
/// </summary>
public class DatabaseRetryTests
{
    public static TheoryData<string, Exception> Transient => new()
    {
        // A multi-host data source with no usable host yet: the primary gone, the standby not promoted (or not rechecked).
        { "no suitable host", new NpgsqlException("No suitable host was found.") },
        { "every host failed to connect", new NpgsqlException("Unable to connect to a suitable host. Check inner exception for more details.",
            new AggregateException(new NpgsqlException("Failed to connect to 10.88.0.10:54320", new SocketException((int)SocketError.TimedOut)))) },
        // A pooled connection to a server that is now a standby (a demoted primary), or one promoting.
        { "read-only transaction", Postgres(PostgresErrorCodes.ReadOnlySqlTransaction) },
        { "admin shutdown", Postgres(PostgresErrorCodes.AdminShutdown) },
        { "cannot connect now", Postgres(PostgresErrorCodes.CannotConnectNow) },
        { "connection failure", Postgres("08006") },
        { "command timeout", new NpgsqlException("Exception while reading from stream", new TimeoutException()) },
    };

    public static TheoryData<string, Exception> Permanent => new()
    {
        { "unique violation", Postgres(PostgresErrorCodes.UniqueViolation) },
        { "syntax error", Postgres(PostgresErrorCodes.SyntaxError) },
        { "another client error", new NpgsqlException("The connection string is not valid") },
        { "a bug", new InvalidOperationException("No suitable host was found.") },
    };

    [Theory]
    [MemberData(nameof(Transient))]
    public void A_failure_of_the_database_or_of_a_failover_is_transient(string what, Exception exception) =>
        Assert.True(DatabaseRetry.IsTransient(exception), what);

    [Theory]
    [MemberData(nameof(Permanent))]
    public void A_failure_of_the_call_itself_is_not(string what, Exception exception) =>
        Assert.False(DatabaseRetry.IsTransient(exception), what);

    [Fact]
    public async Task A_call_that_finds_no_suitable_host_is_retried_until_the_promoted_standby_answers()
    {
        var calls = 0;
        var answer = await DatabaseRetry.RunAsync(_ => ++calls < 3 ? throw new NpgsqlException("No suitable host was found.") : Task.FromResult(42),
            NullLogger.Instance, "a heartbeat", CancellationToken.None);
        Assert.Equal(42, answer);
        Assert.Equal(3, calls);
    }

    private static PostgresException Postgres(string sqlState) => new("the server said no", "ERROR", "ERROR", sqlState);
}
