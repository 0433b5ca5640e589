using System.Runtime.InteropServices;

namespace PunkGrid.Tests.Shared;

/// <summary>POSIX signals for the fault tests and the chaos soak: freeze (SIGSTOP) and thaw (SIGCONT) a process, as a stalled VM or a debugger would.</summary>
public static class Signals
{
    public const int Stop = 19;
    public const int Continue = 18;
    public const int Kill = 9;
    public const int Terminate = 15;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    public static void Send(IEnumerable<int> processes, int signal)
    {
        foreach (var pid in processes)
        {
            if (kill(pid, signal) != 0 && Marshal.GetLastPInvokeError() != 3) // 3: ESRCH, the process is gone already
            {
                throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
    }

    /// <summary>The direct children of <paramref name="parent"/>, from /proc.</summary>
    public static IReadOnlyList<int> ChildrenOf(int parent)
    {
        var children = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid …"; comm may contain spaces, so read after the last ')'.
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) == parent)
                {
                    children.Add(pid);
                }
            }
            catch (IOException)
            {
                // gone meanwhile
            }
        }
        return children;
    }
}
