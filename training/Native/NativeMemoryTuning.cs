using System.Collections;
using System.Runtime.InteropServices;

namespace PunkGrid.Training.Native;

/// <summary>
/// Tunes glibc's malloc for libtorch on the CPU. glibc serves every block above its mmap threshold (at most 32 MiB) with a
/// fresh <c>mmap</c> and returns it with <c>munmap</c> when freed. libtorch allocates each activation and gradient of a
/// training step anew, and at the seed profiles' sizes many are larger (one VAE activation is 64×32×128×128 floats,
/// 128 MiB), so every step faults in, and the kernel zeroes, gigabytes of new pages: measured here, half of a VAE step's
/// CPU time went to the kernel, and the tuning below makes the step 3–4× faster (docs/BENCHMARKS.md, "Native memory").
/// <para>
/// glibc reads its tunables (<c>GLIBC_TUNABLES</c>) only when a process starts, so a process that trains calls
/// <see cref="ReexecuteIfNeeded"/> first thing: it executes itself again, same process id and arguments, with the tunables
/// set — one arena, no mmap for large blocks, no trimming (freed memory stays in the heap for the next step), transparent
/// huge pages for the heap. Memory a job leaves free goes back to the system when the job ends
/// (<see cref="ReleaseFreeMemory"/>). Tunables the caller already set are kept; <c>PUNKGRID_MALLOC_TUNING=off</c>
/// turns all of this off. Other C libraries (musl) and systems are left alone.
/// </para>
/// </summary>
public static partial class NativeMemoryTuning
{
    /// <summary>Set to <c>off</c> to keep glibc's defaults.</summary>
    public const string SwitchVariable = "PUNKGRID_MALLOC_TUNING";

    /// <summary>glibc's variable for its tunables: <c>name=value</c> pairs separated by colons.</summary>
    public const string TunablesVariable = "GLIBC_TUNABLES";

    /// <summary>The tunables, as <c>name=value</c>.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Tunables { get; } =
    [
        new("glibc.malloc.arena_max", "1"), // every thread allocates from the main heap (a thread's own arena would mmap large blocks anyway)
        new("glibc.malloc.mmap_max", "0"), // large blocks come from the heap, not from fresh mappings
        new("glibc.malloc.trim_threshold", "68719476736"), // the heap is not shrunk after each step (ReleaseFreeMemory does it after a job)
        new("glibc.malloc.hugetlb", "1"), // transparent huge pages for the heap where the kernel allows them (madvise)
    ];

    private static string? status;

    /// <summary>
    /// Whether this process runs with the tunables, and why not if it does not: for the start-up log. A process that never
    /// called <see cref="ReexecuteIfNeeded"/> (a test host) reports what its environment says.
    /// </summary>
    public static string Status => status ?? (IsTuned(Environment.GetEnvironmentVariable(TunablesVariable))
        ? $"glibc malloc tuned for libtorch ({TunablesVariable} from the environment)"
        : "glibc malloc at its defaults (this process does not tune it)");

    /// <summary>Whether <paramref name="tunables"/> (a <c>GLIBC_TUNABLES</c> value) names every tunable this class sets.</summary>
    public static bool IsTuned(string? tunables) => Merge(tunables) is null;

    /// <summary>
    /// <paramref name="current"/> (a <c>GLIBC_TUNABLES</c> value, or null) with the tunables it does not name yet appended;
    /// null when it names them all (nothing to do). A value the caller set is never replaced.
    /// </summary>
    public static string? Merge(string? current)
    {
        var present = (current ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2)[0].Trim())
            .ToHashSet(StringComparer.Ordinal);
        var missing = Tunables.Where(t => !present.Contains(t.Key)).Select(t => $"{t.Key}={t.Value}").ToList();
        if (missing.Count == 0)
        {
            return null;
        }
        return string.IsNullOrEmpty(current) ? string.Join(':', missing) : $"{current.TrimEnd(':')}:{string.Join(':', missing)}";
    }

    /// <summary>Whether <paramref name="value"/> (of <c>PUNKGRID_MALLOC_TUNING</c>) turns the tuning off.</summary>
    public static bool IsSwitchedOff(string? value) =>
        value is not null && (value.Equals("off", StringComparison.OrdinalIgnoreCase) || value == "0" || value.Equals("false", StringComparison.OrdinalIgnoreCase));

    /// <summary>The arguments of a process as <c>/proc/PID/cmdline</c> holds them: each followed by a NUL byte.</summary>
    public static string[] ParseCommandLine(ReadOnlySpan<byte> cmdline)
    {
        var text = System.Text.Encoding.UTF8.GetString(cmdline);
        if (text.EndsWith('\0'))
        {
            text = text[..^1];
        }
        return text.Length == 0 ? [] : text.Split('\0');
    }

    /// <summary>What <see cref="ReexecuteIfNeeded"/> does: execute again with <see cref="Tunables"/> as <c>GLIBC_TUNABLES</c> (when not null), and the status to report.</summary>
    public sealed record Decision(string? Tunables, string Status);

    /// <summary>The decision for a process whose environment <paramref name="environment"/> reads, on glibc Linux or not.</summary>
    public static Decision Decide(Func<string, string?> environment, bool linuxWithGlibc)
    {
        if (!linuxWithGlibc)
        {
            return new(null, "malloc not tuned: not Linux with glibc");
        }
        var switchValue = environment(SwitchVariable);
        if (IsSwitchedOff(switchValue))
        {
            return new(null, $"glibc malloc at its defaults ({SwitchVariable}={switchValue})");
        }
        var current = environment(TunablesVariable);
        var merged = Merge(current);
        return merged is null
            ? new(null, $"glibc malloc tuned for libtorch ({TunablesVariable}={current})")
            : new(merged, $"glibc malloc tuned for libtorch ({TunablesVariable}={merged})");
    }

    /// <summary>
    /// On Linux with glibc, unless switched off or already tuned: executes this process again (<c>execve</c> of
    /// <c>/proc/self/exe</c>, same arguments, same process id) with the tunables in its environment. Returns only when it
    /// did not (nothing to do, or the call failed); <see cref="Status"/> then says why. Call it before anything else runs.
    /// </summary>
    public static void ReexecuteIfNeeded()
    {
        var decision = Decide(Environment.GetEnvironmentVariable, OperatingSystem.IsLinux() && IsGlibc());
        status = decision.Status;
        if (decision.Tunables is null)
        {
            return;
        }
        string[] arguments;
        try
        {
            arguments = ParseCommandLine(File.ReadAllBytes("/proc/self/cmdline"));
        }
        catch (IOException e)
        {
            status = $"glibc malloc at its defaults (could not read /proc/self/cmdline to execute again: {e.Message})";
            return;
        }
        var environment = new List<string>();
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            if (!string.Equals((string)entry.Key, TunablesVariable, StringComparison.Ordinal))
            {
                environment.Add($"{entry.Key}={entry.Value}");
            }
        }
        environment.Add($"{TunablesVariable}={decision.Tunables}");
        var error = Execute("/proc/self/exe", arguments, environment);
        status = $"glibc malloc at its defaults (executing again with {TunablesVariable} failed: errno {error})";
    }

    /// <summary>Hands the heap's free memory back to the system (glibc only): after a job, so an idle worker does not keep its peak.</summary>
    public static void ReleaseFreeMemory()
    {
        if (OperatingSystem.IsLinux() && IsGlibc())
        {
            MallocTrim(0);
        }
    }

    private static bool? glibc;

    private static bool IsGlibc() =>
        glibc ??= NativeLibrary.TryLoad("libc.so.6", out var handle) && NativeLibrary.TryGetExport(handle, "gnu_get_libc_version", out _);

    /// <summary>execve with an empty signal mask (signals blocked now would stay blocked in the new image); returns errno when it fails.</summary>
    private static unsafe int Execute(string path, IReadOnlyList<string> arguments, IReadOnlyList<string> environment)
    {
        var argv = ToNative(arguments);
        var envp = ToNative(environment);
        var file = Marshal.StringToCoTaskMemUTF8(path);
        try
        {
            var empty = stackalloc byte[128]; // sigset_t
            var saved = stackalloc byte[128];
            new Span<byte>(empty, 128).Clear();
            var masked = PThreadSigMask(2 /* SIG_SETMASK */, empty, saved) == 0;
            fixed (IntPtr* argvPointer = argv)
            fixed (IntPtr* envpPointer = envp)
            {
                Exec(file, argvPointer, envpPointer);
                var error = Marshal.GetLastPInvokeError();
                if (masked)
                {
                    _ = PThreadSigMask(2, saved, null);
                }
                return error;
            }
        }
        finally
        {
            Free(argv);
            Free(envp);
            Marshal.FreeCoTaskMem(file);
        }
    }

    private static IntPtr[] ToNative(IReadOnlyList<string> values)
    {
        var native = new IntPtr[values.Count + 1];
        for (var i = 0; i < values.Count; i++)
        {
            native[i] = Marshal.StringToCoTaskMemUTF8(values[i]);
        }
        return native;
    }

    private static void Free(IntPtr[] native)
    {
        foreach (var pointer in native)
        {
            if (pointer != IntPtr.Zero)
            {
                Marshal.FreeCoTaskMem(pointer);
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true)]
    private static unsafe partial int Exec(IntPtr path, IntPtr* argv, IntPtr* envp);

    [LibraryImport("libc", EntryPoint = "pthread_sigmask")]
    private static unsafe partial int PThreadSigMask(int how, byte* set, byte* oldSet);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
