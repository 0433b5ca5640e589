using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace PunkGrid.Server;

/// <summary>The job logs' settings, bound from <c>PunkGrid:JobLogs</c> (env <c>PUNKGRID__JobLogs__…</c>).</summary>
public sealed class JobLogOptions
{
    public const string Section = "PunkGrid:JobLogs";

    /// <summary>Lines kept per job; beyond it the oldest are dropped (and counted).</summary>
    public int MaxLinesPerJob { get; set; } = 5_000;

    /// <summary>Characters kept of one line (an exception with its stack included); the rest is cut, saying so.</summary>
    public int MaxLineLength { get; set; } = 16_384;

    /// <summary>The least level a job's line must have to be stored (the silo's own log follows its logging settings).</summary>
    public LogLevel MinimumLevel { get; set; } = LogLevel.Information;

    /// <summary>How often a silo writes the lines its jobs said since the last write.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Lines a silo holds while the database cannot take them (an outage); beyond it the oldest are dropped.</summary>
    public int BufferLines { get; set; } = 20_000;

    public sealed class Validator : IValidateOptions<JobLogOptions>
    {
        public ValidateOptionsResult Validate(string? name, JobLogOptions o)
        {
            var errors = new List<string>();
            if (o.MaxLinesPerJob is < 10 or > 1_000_000)
            {
                errors.Add($"{Section}:MaxLinesPerJob {o.MaxLinesPerJob} is not allowed: 10 to 1000000");
            }
            if (o.MaxLineLength is < 256 or > 1_048_576)
            {
                errors.Add($"{Section}:MaxLineLength {o.MaxLineLength} is not allowed: 256 to 1048576");
            }
            if (o.MinimumLevel is LogLevel.None || !Enum.IsDefined(o.MinimumLevel))
            {
                errors.Add($"{Section}:MinimumLevel {o.MinimumLevel} is not allowed: Trace, Debug, Information, Warning, Error or Critical");
            }
            if (o.FlushInterval <= TimeSpan.Zero || o.FlushInterval > TimeSpan.FromMinutes(1))
            {
                errors.Add($"{Section}:FlushInterval {o.FlushInterval} is not allowed: above zero, at most a minute");
            }
            if (o.BufferLines is < 100 or > 10_000_000)
            {
                errors.Add($"{Section}:BufferLines {o.BufferLines} is not allowed: 100 to 10000000");
            }
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
