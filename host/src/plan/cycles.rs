//! Cycle detection over the step graph, reporting the full path `a -> b -> a`.

/// Finds a dependency cycle and returns its nodes in order, the first node
/// repeated at the end. `deps[i]` are the nodes `i` depends on.
pub fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; deps.len()];
    for root in 0..deps.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, index of next dep to visit).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&dep) = deps[node].get(*next) {
                *next += 1;
                match mark[dep] {
                    Mark::New => {
                        mark[dep] = Mark::OnPath;
                        stack.push((dep, 0));
                    }
                    Mark::OnPath => {
                        let start = stack.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                        // `a -> b` reads "a depends on b", as in just and make.
                        let mut cycle: Vec<usize> = stack[start..].iter().map(|&(n, _)| n).collect();
                        cycle.push(dep);
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cycle_in_a_dag() {
        assert_eq!(find_cycle(&[vec![], vec![0], vec![0, 1]]), None);
    }

    #[test]
    fn reports_the_whole_cycle() {
        // 0 <- 1 <- 2 <- 0 (0 depends on 2, 1 on 0, 2 on 1)
        let cycle = find_cycle(&[vec![2], vec![0], vec![1]]).expect("a cycle");
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4);
        // each node is followed by one of its dependencies
        let deps = [vec![2], vec![0], vec![1]];
        for w in cycle.windows(2) {
            assert!(deps[w[0]].contains(&w[1]), "{w:?} is not an edge");
        }
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        assert_eq!(find_cycle(&[vec![0]]), Some(vec![0, 0]));
    }
}
