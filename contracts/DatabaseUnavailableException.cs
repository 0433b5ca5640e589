namespace PunkGrid.Contracts;

/// <summary>
/// The cluster's database did not answer a call (down, restarting, paused, or failing over to a standby) within the few
/// seconds a silo waits for it. Nothing the call would have stored was stored; sending it again later is safe.
/// </summary>
[GenerateSerializer, Alias("PunkGrid.DatabaseUnavailableException")]
public sealed class DatabaseUnavailableException : Orleans.Runtime.OrleansException
{
    public DatabaseUnavailableException(string message)
        : base(message)
    {
    }

    public DatabaseUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public DatabaseUnavailableException()
    {
    }
}
