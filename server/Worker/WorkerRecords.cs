namespace PunkGrid.Server.Worker;

/// <summary>What a worker offers: where it runs, its device (<c>cpu</c>, <c>cuda:N</c>) and how many jobs at once.</summary>
public sealed record WorkerRegistration(string WorkerId, string Silo, string Device, int Slots, long MemoryMegabytes);

/// <summary>A job leased to a worker. <see cref="Attempt"/> is the fencing token for every write the worker makes.</summary>
public sealed record JobLease(string JobId, string RunId, int Attempt, PunkGrid.Contracts.JobSpec Spec);

/// <summary>Where one leased job stands, as a heartbeat reports it.</summary>
public sealed record JobProgressReport(string JobId, int Attempt, int Epoch, int TotalEpochs, long Step, long TotalSteps, double Progress);
